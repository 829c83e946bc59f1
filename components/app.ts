// The whole application on one stack: a ColorStack per present color, HAProxy in
// front, and the switch that points HAProxy at the active color.

import * as pulumi from "@pulumi/pulumi";
import type { ServingGuard } from "./cleanup";
import { ColorStack } from "./colorStack";
import type { StackConfig } from "./config";
import { Haproxy, HaproxyInputs } from "./haproxy";
import { HaproxyHost } from "./haproxyHost";
import { COLORS, Color, colorHostPort, containerName, haproxyInstanceName, haproxyLayout } from "./naming";
import { Switch, SwitchInputs } from "./switch";

export interface BlueGreenAppArgs {
    /** The validated stack config (see components/config.ts). */
    readonly config: StackConfig;
    /** Token for an http artifact store; stays a Pulumi secret. */
    readonly artifactToken?: pulumi.Input<string>;
}

/** Pure: the machine HAProxy runs on for this stack. */
export function haproxyHostOf(config: StackConfig): HaproxyHost {
    return config.haproxy.placement === "host"
        ? { placement: "host" }
        : { placement: "incus", instance: haproxyInstanceName(config.prefix), ...(config.incus.remote ? { remote: config.incus.remote } : {}) };
}

function layoutOf(config: StackConfig) {
    return haproxyLayout(config.haproxy.placement, config.app, config.stack, config.haproxy.dir);
}

/** Pure: where the live active color is read from before a color's containers are deleted. */
export function servingGuard(config: StackConfig): ServingGuard {
    const layout = layoutOf(config);
    return { host: haproxyHostOf(config), stateDir: layout.stateDir, adminSocket: layout.hostAdminSocket };
}

/** Pure: the HAProxy resource's inputs. */
export function haproxyInputs(config: StackConfig): HaproxyInputs {
    const host = haproxyHostOf(config);
    return {
        stack: config.stack,
        host,
        layout: layoutOf(config),
        frontendPort: config.haproxy.frontendPort,
        exporterPort: config.haproxy.exporterPort,
        // Both colors' ports, present or not, so adding a color never touches the instance.
        backendPorts: host.placement === "incus" ? config.components.flatMap((c) => COLORS.map((color) => colorHostPort(c.hostPort, color))) : [],
        image: config.incus.image,
        profiles: config.incus.profiles,
    };
}

/** Pure: the switch's inputs. Removing the inactive color leaves them unchanged. */
export function switchInputs(config: StackConfig): SwitchInputs {
    return {
        stack: config.stack,
        host: haproxyHostOf(config),
        layout: layoutOf(config),
        method: config.haproxy.switchMethod,
        active: config.active,
        release: config.colors[config.active]!.release,
        frontendPort: config.haproxy.frontendPort,
        exporterPort: config.haproxy.exporterPort,
        extra: config.haproxy.extra,
        components: config.components.map((c) => ({
            name: c.name,
            route: c.route,
            healthPath: c.healthPath,
            ports: { blue: colorHostPort(c.hostPort, "blue"), green: colorHostPort(c.hostPort, "green") },
            container: containerName(config.prefix, c.name, config.active),
        })),
        ...(config.incus.remote ? { remote: config.incus.remote } : {}),
        timeoutMs: config.health.timeoutMs,
        settleMs: config.haproxy.settleMs,
    };
}

export class BlueGreenApp extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly activeColor: pulumi.Output<Color>;
    public readonly releases: pulumi.Output<Partial<Record<Color, string>>>;
    public readonly containerNames: pulumi.Output<Partial<Record<Color, Record<string, string>>>>;
    public readonly stacks: Partial<Record<Color, ColorStack>> = {};
    public readonly haproxy: Haproxy;
    public readonly switch: Switch;

    constructor(name: string, args: BlueGreenAppArgs, opts?: pulumi.ComponentResourceOptions) {
        super("bluegreen:index:App", name, {}, opts);
        const { config } = args;
        const guard = servingGuard(config);
        for (const color of COLORS) {
            const spec = config.colors[color];
            if (!spec) continue;
            this.stacks[color] = new ColorStack(color, { config, color, release: spec.release, guard, artifactToken: args.artifactToken }, { parent: this });
        }
        this.haproxy = new Haproxy(`${name}-haproxy`, haproxyInputs(config), { parent: this });
        // Only the target color gates the switch: a failed inactive color must never block a flip.
        const targets = Object.values(this.stacks[config.active]!.containers);
        this.switch = new Switch(`${name}-switch`, switchInputs(config), { parent: this, dependsOn: [this.haproxy, ...targets] });

        this.url = pulumi.output(`http://127.0.0.1:${config.haproxy.frontendPort}/`);
        this.activeColor = this.switch.active;
        this.releases = pulumi.output(Object.fromEntries(Object.entries(config.colors).map(([c, s]) => [c, s!.release])));
        this.containerNames = pulumi.output(
            Object.fromEntries(Object.entries(this.stacks).map(([c, s]) => [c, Object.fromEntries(Object.keys(s!.containers).map((k) => [k, containerName(config.prefix, k, c as Color)]))])),
        ) as pulumi.Output<Partial<Record<Color, Record<string, string>>>>;
        this.registerOutputs({ url: this.url, activeColor: this.activeColor, releases: this.releases });
    }
}
