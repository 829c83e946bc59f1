// One component of one color: an Incus container running a release, as a dynamic
// resource. Create launches, installs, starts and waits for health; an unhealthy
// container is kept for forensics. A release change replaces it; delete is
// idempotent and refuses while the color serves traffic.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { openStore } from "./artifacts";
import { refuseIfServing, ServingGuard } from "./cleanup";
import type { ArtifactStoreSpec, HealthSpec } from "./config";
import { InitFailure, initFailure } from "./errors";
import { check } from "./exec";
import { probe, judge, waitHealthy } from "./health";
import { IncusTarget, InstanceInfo, createCmd, deleteInstance, filePushCmd, getInstance, readInstanceFile, startCmd } from "./incus";
import type { Color } from "./naming";
import { progress } from "./progress";

/** Where a release tarball lands; the image's init unpacks it on first start. */
export const RELEASE_PATH = "/opt/bluegreen/release.tar.gz";
export const APP_LOG = "/var/log/bluegreen-app.log";

export interface ColorContainerInputs {
    readonly name: string;
    readonly stack: string;
    readonly component: string;
    readonly color: Color;
    readonly release: string;
    /** Port the app listens on inside the container. */
    readonly port: number;
    /** This color's loopback port on the Incus host. */
    readonly hostPort: number;
    readonly healthPath: string;
    readonly image: string;
    readonly profiles: readonly string[];
    readonly remote?: string;
    readonly artifacts: ArtifactStoreSpec;
    readonly artifactToken?: string;
    readonly health: HealthSpec;
    readonly guard: ServingGuard;
}

export interface ColorContainerOutputs extends Omit<ColorContainerInputs, "artifactToken"> {
    /** Incus status when last observed: Running, Stopped... */
    readonly status: string;
    readonly healthy: boolean;
    /** The health endpoint on the Incus host's loopback. */
    readonly url: string;
}

/** Inputs whose change means a new container (names are fixed, so delete first). */
export const REPLACE_ON = ["name", "stack", "component", "color", "release", "port", "hostPort", "healthPath", "image", "profiles", "remote"] as const;

export function healthUrl(i: Pick<ColorContainerInputs, "hostPort" | "healthPath">): string {
    return `http://127.0.0.1:${i.hostPort}${i.healthPath}`;
}

/** Pure: the instance config that labels and parameterises the container. */
export function instanceConfig(i: ColorContainerInputs): Record<string, string> {
    return {
        "environment.PORT": String(i.port),
        "environment.BLUEGREEN_STACK": i.stack,
        "environment.BLUEGREEN_COMPONENT": i.component,
        "environment.BLUEGREEN_COLOR": i.color,
        "environment.BLUEGREEN_RELEASE": i.release,
        "environment.BLUEGREEN_HEALTH_PATH": i.healthPath,
        "user.bluegreen.managed": "true",
        "user.bluegreen.stack": i.stack,
        "user.bluegreen.component": i.component,
        "user.bluegreen.color": i.color,
        "user.bluegreen.release": i.release,
    };
}

/** Pure: which replace-triggering inputs differ. */
export function replacedKeys(olds: Partial<ColorContainerInputs>, news: ColorContainerInputs): string[] {
    return REPLACE_ON.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}

function outputs(i: ColorContainerInputs, status: string, healthy: boolean): ColorContainerOutputs {
    const { artifactToken: _secret, ...rest } = i;
    return { ...rest, status, healthy, url: healthUrl(i) };
}

function target(i: { remote?: string }): IncusTarget {
    return { remote: i.remote };
}

async function appLogTail(i: ColorContainerInputs): Promise<string> {
    try {
        const log = await readInstanceFile(target(i), i.name, APP_LOG);
        return log === undefined ? `(no app log at ${APP_LOG})` : log.trimEnd().split("\n").slice(-20).join("\n");
    } catch (e) {
        return `(no app log: ${(e as Error).message})`;
    }
}

async function unhealthy(i: ColorContainerInputs, reason: string, attempts: number): Promise<InitFailure> {
    const log = await appLogTail(i);
    const message =
        `${i.name} stayed unhealthy after ${attempts} health checks of ${healthUrl(i)}: ${reason}. ` +
        `The container is kept for forensics (incus exec ${i.name} -- cat ${APP_LOG}). ` +
        `Traffic was not switched. Fix the release and set bluegreen:colors.${i.color}.release, ` +
        `or remove ${i.color} from bluegreen:colors to clean it up.` +
        (log ? `\n--- last lines of ${APP_LOG} ---\n${log}` : "");
    return initFailure(message, i.name, outputs(i, "Running", false) as unknown as Record<string, unknown>);
}

function isOurs(inst: InstanceInfo, i: ColorContainerInputs): boolean {
    return inst.config["user.bluegreen.managed"] === "true" && inst.config["user.bluegreen.stack"] === i.stack;
}

/** Creates, installs, starts and health-checks. Re-running after an interruption is safe. */
async function launch(i: ColorContainerInputs): Promise<pulumi.dynamic.CreateResult> {
    const existing = await getInstance(target(i), i.name);
    if (existing) {
        if (!isOurs(existing, i)) {
            throw new Error(
                `instance ${i.name} already exists and is not managed by stack ${i.stack}; ` +
                    `rename or delete it, or choose another bluegreen:prefix`,
            );
        }
        // Left by an interrupted run: adopt it when it already serves this release healthily.
        if (existing.config["user.bluegreen.release"] === i.release && existing.status === "Running") {
            const v = judge(await probe(healthUrl(i), i.health.timeoutMs), i.release);
            if (v.healthy) {
                progress(`${i.name}: adopting the running, healthy instance of ${i.release}`);
                return { id: i.name, outs: outputs(i, "Running", true) };
            }
        }
        await refuseIfServing(i.guard, i.color, i.name);
        progress(`${i.name}: removing a leftover instance (${existing.status}, release ${existing.config["user.bluegreen.release"] ?? "?"})`);
        await deleteInstance(target(i), i.name);
    }

    const artifact = await openStore(i.artifacts, process.cwd(), i.artifactToken).fetch({ component: i.component, release: i.release });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-release-"));
    try {
        const file = path.join(dir, "release.tar.gz");
        fs.writeFileSync(file, artifact);
        progress(`${i.name}: creating from ${i.image} with release ${i.release}`);
        await check(
            createCmd(target(i), i.name, {
                image: i.image,
                profiles: i.profiles,
                config: instanceConfig(i),
                proxies: { http: { listenPort: i.hostPort, connectPort: i.port } },
            }),
            `cannot create ${i.name}`,
        );
        try {
            await check(filePushCmd(target(i), i.name, file, RELEASE_PATH), `cannot install the release in ${i.name}`);
            await check(startCmd(target(i), i.name), `cannot start ${i.name}`);
        } catch (e) {
            throw initFailure(
                `${(e as Error).message}. The instance is kept for forensics; remove ${i.color} from bluegreen:colors to clean it up.`,
                i.name,
                outputs(i, "Stopped", false) as unknown as Record<string, unknown>,
            );
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    const w = await waitHealthy(i.name, healthUrl(i), i.health, i.release);
    if (!w.healthy) throw await unhealthy(i, w.reason, w.attempts);
    return { id: i.name, outs: outputs(i, "Running", true) };
}

/** The single, static provider instance every ColorContainer shares. */
export const colorContainerProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: ColorContainerInputs, news: ColorContainerInputs) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!/^[a-z][a-z0-9-]{0,62}$/.test(news.name ?? "")) failures.push({ property: "name", reason: "expected a valid Incus instance name" });
        if (news.color !== "blue" && news.color !== "green") failures.push({ property: "color", reason: "expected blue or green" });
        if (!/^[0-9a-f]{7,40}$/.test(news.release ?? "")) failures.push({ property: "release", reason: "expected 7-40 lowercase hex characters" });
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: ColorContainerOutputs, news: ColorContainerInputs) {
        const replaces = replacedKeys(olds, news);
        const { artifactToken: _t, ...plain } = news;
        const changed =
            replaces.length > 0 ||
            olds.healthy === false ||
            ["artifacts", "health", "guard"].some((k) => JSON.stringify((olds as any)[k]) !== JSON.stringify((plain as any)[k]));
        return { changes: changed, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: ColorContainerInputs) {
        return launch(inputs);
    },

    async update(_id: string, olds: ColorContainerOutputs, news: ColorContainerInputs) {
        // Only non-identity inputs changed. A container that failed its health check
        // earlier is probed again, so `up` passes once it recovers.
        if (olds.healthy === false) {
            // One probe, not a full wait: a color kept for forensics must not slow every `up`.
            const v = judge(await probe(healthUrl(news), news.health.timeoutMs), news.release);
            if (!v.healthy) throw await unhealthy(news, v.reason, 1);
        }
        return { outs: outputs(news, olds.status ?? "Running", true) };
    },

    async delete(id: string, props: ColorContainerOutputs) {
        await refuseIfServing(props.guard, props.color, id);
        const gone = await deleteInstance(target(props), id);
        progress(gone ? `${id}: deleted` : `${id}: already absent`);
    },

    async read(id: string, props: ColorContainerOutputs) {
        const inst = await getInstance(target(props), id);
        if (!inst) return { id: "" };
        const release = inst.config["user.bluegreen.release"] ?? props.release;
        const live = { ...props, release };
        const healthy = inst.status === "Running" && judge(await probe(healthUrl(live), props.health.timeoutMs), release).healthy;
        const { status: _s, healthy: _h, url: _u, ...inputs } = live;
        return { id, props: { ...live, status: inst.status, healthy }, inputs };
    },
};

/** Inputs of a ColorContainer; any of them may be an Output. */
export type ColorContainerArgs = { readonly [K in keyof ColorContainerInputs]: pulumi.Input<ColorContainerInputs[K]> };

/** One (component, color) container. Named `<prefix><component>-<color>` in Incus. */
export class ColorContainer extends pulumi.dynamic.Resource {
    declare public readonly name: pulumi.Output<string>;
    declare public readonly release: pulumi.Output<string>;
    declare public readonly status: pulumi.Output<string>;
    declare public readonly healthy: pulumi.Output<boolean>;
    declare public readonly url: pulumi.Output<string>;

    constructor(name: string, args: ColorContainerArgs, opts?: pulumi.CustomResourceOptions) {
        super(colorContainerProvider, name, { ...args, status: undefined, healthy: undefined, url: undefined }, opts);
    }
}
