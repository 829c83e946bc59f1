// One color's containers, grouped: `ColorStack("green")` owns backend-green, stream-green, web-green.

import * as pulumi from "@pulumi/pulumi";
import { ServingGuard } from "./cleanup";
import { ColorContainer, ColorContainerInputs } from "./colorContainer";
import type { StackConfig } from "./config";
import { Color, colorHostPort, containerName } from "./naming";

/** Pure: the inputs of every container of `color`, one per component. */
export function colorContainerInputs(config: StackConfig, color: Color, release: string, guard: ServingGuard): ColorContainerInputs[] {
    return config.components.map((c) => ({
        name: containerName(config.prefix, c.name, color),
        stack: config.stack,
        component: c.name,
        color,
        release,
        port: c.port,
        hostPort: colorHostPort(c.hostPort, color),
        healthPath: c.healthPath,
        image: config.incus.image,
        profiles: config.incus.profiles,
        ...(config.incus.remote ? { remote: config.incus.remote } : {}),
        artifacts: config.artifacts,
        health: config.health,
        guard,
    }));
}

export interface ColorStackArgs {
    /** The validated stack config. */
    readonly config: StackConfig;
    readonly color: Color;
    /** The release (git SHA) every component of this color runs. */
    readonly release: string;
    /** Where the containers find the live active color before they delete themselves. */
    readonly guard: ServingGuard;
    /** Registry token for the artifact store; kept secret. */
    readonly artifactToken?: pulumi.Input<string>;
}

export class ColorStack extends pulumi.ComponentResource {
    /** The containers, by component name. */
    public readonly containers: Record<string, ColorContainer> = {};
    public readonly color: Color;
    public readonly release: string;

    constructor(name: string, args: ColorStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("bluegreen:index:ColorStack", name, {}, opts);
        this.color = args.color;
        this.release = args.release;
        for (const inputs of colorContainerInputs(args.config, args.color, args.release, args.guard)) {
            this.containers[inputs.component] = new ColorContainer(
                `${inputs.component}-${name}`,
                { ...inputs, ...(args.artifactToken ? { artifactToken: pulumi.secret(args.artifactToken) } : {}) },
                { parent: this },
            );
        }
        this.registerOutputs({ color: this.color, release: this.release });
    }
}
