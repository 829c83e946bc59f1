// One color's containers, grouped: `ColorStack("green")` owns backend-green, stream-green, web-green.

import * as pulumi from "@pulumi/pulumi";
import { StackConfig, secretEnvOf } from "./model/config";
import type { Color } from "./model/naming";
import { colorContainerInputs } from "./plan";
import type { StackPlacement } from "./model/cluster/placement";
import { ColorContainer } from "./providers/colorContainer";
import type { ServingGuard } from "./release/cleanup";
import { bootGroup, groupSize } from "./model/boot";

export interface ColorStackArgs {
    /** The validated stack config. */
    readonly config: StackConfig;
    /** On a cluster: each container's member and routed address (model/cluster/placement.ts). */
    readonly placement?: StackPlacement;
    readonly color: Color;
    /** The release (git SHA) every component of this color runs. */
    readonly release: string;
    /** Where the containers find the live active color before they delete themselves. */
    readonly guard: ServingGuard;
    /** Registry token for the artifact store; kept secret. */
    readonly artifactToken?: pulumi.Input<string>;
    /** bluegreen:secretEnv's text (`{component: {VAR: value}}`); kept secret. */
    readonly secretEnv?: pulumi.Input<string>;
    /** Resources every container waits for (the canary, which installs the serving color's releases first). */
    readonly dependsOn?: pulumi.Resource[];
}

export class ColorStack extends pulumi.ComponentResource {
    /** The containers, by component name; `<component>-<n>` for a node of a pool. */
    public readonly containers: Record<string, ColorContainer> = {};
    /** Their Incus names, by the same keys. */
    public readonly containerNames: Record<string, string> = {};
    public readonly color: Color;
    public readonly release: string;

    constructor(name: string, args: ColorStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("bluegreen:index:ColorStack", name, {}, opts);
        this.color = args.color;
        this.release = args.release;
        const { secretEnv } = args;
        const boot = args.config.boot;
        /** Each pool's containers by boot group: a group waits for the one before it. */
        const groups: Record<string, ColorContainer[][]> = {};
        for (const inputs of colorContainerInputs(args.config, args.color, args.release, args.guard, args.placement)) {
            const names = args.config.components.find((c) => c.name === inputs.component)!.secretEnv;
            const key = inputs.node === undefined ? inputs.component : `${inputs.component}-${inputs.node}`;
            this.containerNames[key] = inputs.name;
            const nodes = args.config.components.find((c) => c.name === inputs.component)!.nodes;
            const group = boot && inputs.node !== undefined ? bootGroup(inputs.node, groupSize(boot.limit, nodes)) : 0;
            const previous = group > 0 ? (groups[inputs.component]?.[group - 1] ?? []) : [];
            const deps = [...(args.dependsOn ?? []), ...previous];
            this.containers[key] = new ColorContainer(
                inputs.node === undefined ? `${inputs.component}-${name}` : `${inputs.component}-${name}-${inputs.node}`,
                {
                    ...inputs,
                    ...(group > 0 && boot!.waitSeconds > 0 ? { bootWaitSeconds: boot!.waitSeconds } : {}),
                    ...(args.artifactToken ? { artifactToken: pulumi.secret(args.artifactToken) } : {}),
                    ...(secretEnv && names.length > 0
                        ? { secretEnv: pulumi.secret(pulumi.output(secretEnv).apply((t) => secretEnvOf(t, inputs.component))) }
                        : {}),
                },
                { parent: this, ...(deps.length ? { dependsOn: deps } : {}) },
            );
            ((groups[inputs.component] ??= [])[group] ??= []).push(this.containers[key]!);
        }
        this.registerOutputs({ color: this.color, release: this.release });
    }
}
