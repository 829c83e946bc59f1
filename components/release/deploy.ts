// Deploying one component of one color (seed: deploy_app.yml phase C): create the
// Incus container, install the release, start it, and gate on health. An unhealthy
// container is kept for forensics. Deleting refuses while the color serves traffic.

import * as fs from "fs";
import * as path from "path";
import { fetchCached, openStore } from "../io/artifacts";
import { runOrThrow } from "../io/exec";
import { probeAt } from "../io/prober";
import { createCmd, deleteInstance, filePushCmd, getInstance, InstanceInfo, proxyDevice, readInstanceFile, runIdempotentOrThrow, startCmd } from "../io/incus";
import { sleep } from "../io/poll";
import { progress } from "../io/progress";
import { withTempDir } from "../io/tmp";
import { SECRET_ENV_LABEL, secretEnvDigest } from "../model/stateful/adoption";
import type { ArtifactStoreSpec, HealthSpec } from "../model/config";
import { changedKeys } from "../model/diff";
import { InitFailure, initFailure } from "../model/errors";
import { Color, haproxyBackendName, serverName } from "../model/naming";
import { appUrl, incusTarget, loopbackUrl, probeRoute } from "../model/traffic/topology";
import { ADDRESS_KEY } from "../model/cluster/network";
import { routedConfig, routedNics } from "./traffic/haproxy";
import { assertMemberLive, readMember, strandedRefusal, unreachable } from "./cluster/placement";
import { ServingGuard, mightServe, refuseIfRouted, refuseIfServing } from "./cleanup";
import { DEFAULT_EXPECT, HealthExpect, judge, waitHealthy } from "./traffic/health";
import { AuditContext, audit, auditChange, auditTo } from "./safety/audit";
import { withIncusSlot } from "../io/incusSlots";

/** Where a release tarball lands; the image's init unpacks it on first start. */
export const RELEASE_PATH = "/opt/bluegreen/release.tar.gz";
export const APP_LOG = "/var/log/bluegreen-app.log";
/** The secret environment, root-only; the image's init exports each line to the app without a shell evaluating it. */
export const SECRET_ENV_PATH = "/opt/bluegreen/secret.env";

/** What any app container of bluegreen has: a color's, or a stateful service's. */
export interface AppContainerInputs {
    readonly name: string;
    readonly stack: string;
    readonly release: string;
    /** Port the app listens on inside the container. */
    readonly port: number;
    /** Its loopback port on the Incus host. */
    readonly hostPort: number;
    readonly healthPath: string;
    /** Statuses of a healthy answer; absent means 200-299 (inputs carry only what is not a default). */
    readonly healthStatus?: string;
    /** Text a healthy answer's body contains. */
    readonly healthBody?: string;
    /** The app's plain environment; absent when empty. */
    readonly env?: Readonly<Record<string, string>>;
    readonly image: string;
    readonly profiles: readonly string[];
    readonly remote?: string;
    readonly artifacts: ArtifactStoreSpec;
    readonly artifactToken?: string;
    readonly health: HealthSpec;
    /** bluegreen:broadcast; absent when unset. Never a reason to touch a container. */
    readonly broadcast?: string;
    /** bluegreen:hooks.passEnv, for the broadcast and postRollback; absent when unset. */
    readonly passEnv?: readonly string[];
}

export interface ColorContainerInputs extends AppContainerInputs {
    readonly component: string;
    readonly color: Color;
    /** Its node in the color's pool (1..N); absent for a pool of one. */
    readonly node?: number;
    /** The app's secret environment, a Pulumi secret; absent when none. */
    readonly secretEnv?: Readonly<Record<string, string>>;
    readonly guard: ServingGuard;
    /** bluegreen:incus.parallel: heavy Incus work at once in the provider host; absent: the default. */
    readonly incusParallel?: number;
    /**
     * Set on the serving color's pools while bluegreen:canary is: a release change is then
     * installed in place by the canary (release/rollout/canary.ts), which runs first, and only
     * recorded here. Absent otherwise.
     */
    readonly inPlace?: boolean;
    /** bluegreen:boot.waitSeconds, for a node past the first boot group: the pause before it starts. Never a diff. */
    readonly bootWaitSeconds?: number;
    /**
     * The migration guard of a blue/green rollout: the release the other color runs, which
     * keeps serving against the migrated schema. Absent when there is no other color.
     */
    readonly migrations?: { readonly running: string; readonly force: boolean; readonly block: readonly string[] };
    /** On a cluster, the member it runs on (model/cluster/placement.ts); absent: Incus's scheduler. */
    readonly member?: string;
    /** Its routed address (bluegreen:network mode routed), kept across replacements. */
    readonly address?: string;
    /** With `address`: the members' interface its routed NIC hangs off. */
    readonly parent?: string;
}

export interface ColorContainerOutputs extends Omit<ColorContainerInputs, "artifactToken"> {
    /** Incus status when last observed: Running, Stopped... */
    readonly status: string;
    readonly healthy: boolean;
    /** The health endpoint on the Incus host's loopback. */
    readonly url: string;
}

/** Inputs whose change means a new container (names are fixed, so delete first). */
export const REPLACE_ON = [
    "name",
    "stack",
    "component",
    "color",
    "node",
    "release",
    "port",
    "hostPort",
    "healthPath",
    "image",
    "profiles",
    "remote",
    "member",
    "address",
    "parent",
] as const;

/** Inputs that change in place: the container stays. */
export const UPDATE_ON = ["artifacts", "health", "guard", "healthStatus", "healthBody"] as const;

/**
 * Inputs that roll out as a release does: a new container for the color that does not
 * serve; the serving color keeps what it runs until it is redeployed or stops serving.
 */
export const ROLLOUT_ON = ["env", "secretEnv"] as const;

export function expectOf(i: Pick<ColorContainerInputs, "healthStatus" | "healthBody">): HealthExpect {
    return { status: i.healthStatus ?? DEFAULT_EXPECT.status, ...(i.healthBody ? { body: i.healthBody } : {}) };
}

/** Pure: which rollout inputs differ; an absent map is an empty one (state written before they existed). */
export function rolloutKeys(olds: Partial<ColorContainerInputs>, news: ColorContainerInputs): string[] {
    return ROLLOUT_ON.filter((k) => JSON.stringify(olds[k] ?? {}) !== JSON.stringify(news[k] ?? {}));
}

/** Where its health is probed from: its routed address at the app's port, else its loopback port. */
export function healthUrl(i: Pick<ColorContainerInputs, "hostPort" | "healthPath"> & Partial<Pick<ColorContainerInputs, "port" | "address">>): string {
    return i.address && i.port ? appUrl(i.port, i.healthPath, i.address) : loopbackUrl(i.hostPort, i.healthPath);
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
        // Routed: the app listens on its own address, where HAProxy and the probes reach it.
        ...(i.address ? { "environment.HOST": i.address } : {}),
        ...(i.node === undefined ? {} : { "environment.BLUEGREEN_NODE": String(i.node), "user.bluegreen.node": String(i.node) }),
        "user.bluegreen.managed": "true",
        "user.bluegreen.stack": i.stack,
        "user.bluegreen.component": i.component,
        "user.bluegreen.color": i.color,
        "user.bluegreen.release": i.release,
        ...(i.secretEnv && Object.keys(i.secretEnv).length > 0 ? { [SECRET_ENV_LABEL]: secretEnvDigest(i.stack, i.name, secretEnvFile(i.secretEnv)) } : {}),
        ...Object.fromEntries(Object.entries(i.env ?? {}).map(([k, v]) => [`environment.${k}`, v])),
    };
}

/** The input each key of instanceConfig records; any other `environment.*` key is the app's env. */
const RECORDED: Readonly<Record<string, string>> = {
    "environment.PORT": "port",
    "environment.BLUEGREEN_STACK": "stack",
    "environment.BLUEGREEN_COMPONENT": "component",
    "environment.BLUEGREEN_COLOR": "color",
    "environment.BLUEGREEN_RELEASE": "release",
    "environment.BLUEGREEN_HEALTH_PATH": "healthPath",
    "environment.HOST": "address",
    "environment.BLUEGREEN_NODE": "node",
    "user.bluegreen.node": "node",
    "user.bluegreen.managed": "stack",
    "user.bluegreen.stack": "stack",
    "user.bluegreen.component": "component",
    "user.bluegreen.color": "color",
    "user.bluegreen.release": "release",
    [SECRET_ENV_LABEL]: "secretEnv",
};

/**
 * Pure: the inputs a live container differs from the one `i` makes in, by its own record
 * (labels, environment, its proxy device): what the create path compares before it keeps one.
 */
export function liveDifferences(inst: Pick<InstanceInfo, "config" | "devices">, i: ColorContainerInputs): string[] {
    const want = instanceConfig(i);
    const differs = new Set<string>();
    for (const k of new Set([...Object.keys(want), ...Object.keys(inst.config)])) {
        const input = RECORDED[k] ?? (k.startsWith("environment.") ? "env" : undefined);
        if (input && want[k] !== inst.config[k]) differs.add(input);
    }
    // Routed: its NIC and recorded address stand for the proxy device.
    if (i.address) {
        if (inst.config[ADDRESS_KEY] !== i.address || inst.devices.eth0?.["ipv4.address"] !== i.address) differs.add("address");
        return [...differs].sort();
    }
    const http = inst.devices.http ?? {};
    const wanted = proxyDevice({ listenPort: i.hostPort, connectPort: i.port });
    if (http.listen !== wanted.listen) differs.add("hostPort");
    if (http.connect !== wanted.connect) differs.add("port");
    return [...differs].sort();
}

/** Never a config's: stands for a secret environment that is live but cannot be read back. */
const UNVERIFIED = "(live, unverified)";

/**
 * Pure: what a kept container runs, for the rollout inputs it differs in: its env from its
 * record; its secrets cannot be read back, so a marker no config equals. Recorded as its
 * outputs, the next up's diff rolls the config out once the color stops serving.
 */
export function liveRollout(inst: Pick<InstanceInfo, "config">, keys: readonly string[]): Partial<Pick<ColorContainerOutputs, "env" | "secretEnv">> {
    const env = Object.entries(inst.config).filter(([k]) => k.startsWith("environment.") && !(k in RECORDED));
    return {
        ...(keys.includes("env") ? { env: Object.fromEntries(env.map(([k, v]) => [k.slice("environment.".length), v])) } : {}),
        ...(keys.includes("secretEnv") ? { secretEnv: { [UNVERIFIED]: inst.config[SECRET_ENV_LABEL] ?? "none" } } : {}),
    };
}

/** Pure: the secret environment file: one `NAME=value` per line, exported as is (values are one line). */
export function secretEnvFile(env: Readonly<Record<string, string>>): string {
    return Object.entries(env)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}\n`)
        .join("");
}

/** Pure: which replace-triggering inputs differ. */
export function replacedKeys(olds: Partial<ColorContainerInputs>, news: ColorContainerInputs): string[] {
    const keys = changedKeys(olds, news, REPLACE_ON) as string[];
    return news.inPlace ? keys.filter((k) => k !== "release") : keys;
}

/** The container's outputs: every input but the secret, and what was observed. */
export function containerOutputs(i: ColorContainerInputs, status: string, healthy: boolean): ColorContainerOutputs {
    const { artifactToken: _secret, ...rest } = i;
    return { ...rest, status, healthy, url: healthUrl(i) };
}

/** The last lines of the app's log, for a failure message; never throws. */
export async function appLogTail(i: Pick<AppContainerInputs, "remote" | "name">, lines = 20): Promise<string> {
    try {
        const log = await readInstanceFile(incusTarget(i.remote), i.name, APP_LOG);
        return log === undefined ? `(no app log at ${APP_LOG})` : log.trimEnd().split("\n").slice(-lines).join("\n");
    } catch (e) {
        return `(no app log: ${(e as Error).message})`;
    }
}

async function unhealthy(i: ColorContainerInputs, reason: string, attempts: number): Promise<InitFailure> {
    const log = await appLogTail(i);
    const message =
        `${i.name} stayed unhealthy after ${attempts} health checks of ${healthUrl(i)}: ${reason}. ` +
        `The container is kept for forensics (incus exec ${i.name} -- cat ${APP_LOG}; ` +
        `its log and HAProxy's: npm run local -- logs --stack ${i.stack} --color ${i.color}). ` +
        `Traffic was not switched. Fix the release and set bluegreen:colors.${i.color}.release, ` +
        `or remove ${i.color} from bluegreen:colors to clean it up.` +
        (log ? `\n--- last lines of ${APP_LOG} ---\n${log}` : "");
    return initFailure(message, i.name, containerOutputs(i, "Running", false) as unknown as Record<string, unknown>);
}

function isOurs(inst: InstanceInfo, i: ColorContainerInputs): boolean {
    return inst.config["user.bluegreen.managed"] === "true" && inst.config["user.bluegreen.stack"] === i.stack;
}

/** Creates, installs, starts and health-checks. Re-running after an interruption is safe. */
export async function launch(i: ColorContainerInputs): Promise<{ id: string; outs: ColorContainerOutputs }> {
    const target = incusTarget(i.remote);
    if (i.member)
        await assertMemberLive(target, i.member, i.name, [`set bluegreen:components.${i.component}.allowReschedule: true to place it on a live member`]);
    const existing = await getInstance(target, i.name);
    if (existing) {
        if (!isOurs(existing, i)) {
            throw new Error(
                `instance ${i.name} already exists and is not managed by stack ${i.stack}; ` + `rename or delete it, or choose another bluegreen:prefix`,
            );
        }
        const kept = await keepLive(existing, i);
        if (kept) return { id: i.name, outs: kept };
        await refuseIfServing(i.guard, i.color, i.name);
        progress(`${i.name}: removing a leftover instance (${existing.status}, release ${existing.config["user.bluegreen.release"] ?? "?"})`);
        await deleteInstance(target, i.name);
    }

    const artifact = await fetchArtifact(i);
    if (i.bootWaitSeconds) {
        progress(`${i.name}: boot group waits ${i.bootWaitSeconds} s after the group before it`);
        await sleep(i.bootWaitSeconds * 1000);
    }
    // Create, install and start in one of the host's Incus slots; the health wait runs outside it.
    await withIncusSlot(i.incusParallel, () =>
        withTempDir(async (dir) => {
            const file = path.join(dir, "release.tar.gz");
            fs.writeFileSync(file, new Uint8Array(artifact));
            progress(`${i.name}: creating from ${i.image} with release ${i.release}`);
            await runOrThrow(
                createCmd(target, i.name, {
                    image: i.image,
                    profiles: i.profiles,
                    config: { ...instanceConfig(i), ...routedConfig(i) },
                    // Routed: HAProxy and the probes reach it on its own address, through no proxy device.
                    proxies: i.address ? {} : { http: { listenPort: i.hostPort, connectPort: i.port } },
                    ...(i.member ? { member: i.member } : {}),
                    ...routedNics(i),
                }),
                `cannot create ${i.name}`,
            );
            try {
                await runIdempotentOrThrow(filePushCmd(target, i.name, file, RELEASE_PATH), `cannot install the release in ${i.name}`);
                if (i.secretEnv && Object.keys(i.secretEnv).length > 0) {
                    const secrets = path.join(dir, "secret.env");
                    fs.writeFileSync(secrets, secretEnvFile(i.secretEnv), { mode: 0o600 });
                    // Pushed, never passed as instance config: `incus config show` must not show it.
                    await runIdempotentOrThrow(
                        filePushCmd(target, i.name, secrets, SECRET_ENV_PATH, "0600"),
                        `cannot install the secret environment in ${i.name}`,
                    );
                }
                await runOrThrow(startCmd(target, i.name), `cannot start ${i.name}`);
            } catch (e) {
                throw initFailure(
                    `${(e as Error).message}. The instance is kept for forensics; remove ${i.color} from bluegreen:colors to clean it up.`,
                    i.name,
                    containerOutputs(i, "Stopped", false) as unknown as Record<string, unknown>,
                );
            }
        }),
    );
    const w = await waitHealthy(i.name, healthUrl(i), i.health, expectOf(i), probeRoute(i.guard.host));
    if (!w.healthy) throw await unhealthy(i, w.reason, w.attempts);
    await auditChange(auditOf(i), "deploy", { color: i.color, release: i.release }, { container: i.name, component: i.component });
    return { id: i.name, outs: containerOutputs(i, "Running", true) };
}

/**
 * A live container the state does not know (left by an interrupted run, or a lost state) is
 * kept only when its own record matches the config: release, env and secrets. One whose env
 * or secrets differ is kept as it runs while its color serves, as a diff keeps it. A kept one
 * is then healed as an update heals it: started, or waited for, and kept for forensics when
 * unhealthy. Undefined: replace it.
 */
async function keepLive(inst: InstanceInfo, i: ColorContainerInputs): Promise<ColorContainerOutputs | undefined> {
    const differs = liveDifferences(inst, i);
    const rollout = differs.filter((k) => (ROLLOUT_ON as readonly string[]).includes(k));
    if (rollout.length < differs.length || (rollout.length > 0 && !(await mightServe(i.guard, i.color)))) {
        progress(`${i.name}: the live instance differs from the config in ${differs.join(", ")}`);
        return undefined;
    }
    progress(
        rollout.length === 0
            ? `${i.name}: adopting the live instance (${inst.status}): its release, env and secrets match the config`
            : `${i.name}: ${rollout.join(" and ")} differs from the config; ${i.color} serves traffic, so it keeps what it runs until it is redeployed or traffic moves off it`,
    );
    const live = liveRollout(inst, rollout);
    try {
        // Not known unhealthy: one that runs but does not answer gets the full wait.
        return { ...(await heal(containerOutputs(i, inst.status, true), i)), ...live };
    } catch (e) {
        const f = e as Partial<InitFailure>;
        if (f.id !== undefined && f.properties) Object.assign(f.properties, live);
        throw e;
    }
}

/** Where a container's events go: the serving guard's HAProxy host. */
function auditOf(i: Pick<ColorContainerInputs, "guard" | "stack" | "broadcast" | "passEnv">): AuditContext {
    return auditTo(i.guard.host, i.guard.stateDir, i.stack, i.broadcast, i.passEnv);
}

/** The release tarball, verified, through this host's cache. */
export function fetchArtifact(i: Pick<ColorContainerInputs, "artifacts" | "artifactToken" | "component" | "release">): Promise<Buffer> {
    return fetchCached(openStore(i.artifacts, process.cwd(), i.artifactToken), { component: i.component, release: i.release });
}

/**
 * Before anything is deleted: the release must be in the artifact store itself (a copy in
 * this host's cache does not count: retention may have pruned it, and another host has no
 * cache), with a valid checksum. It is fetched into the cache now, so the create after a
 * delete-first replace does not depend on the store still answering. Returns the problem.
 */
export async function artifactProblem(olds: Partial<ColorContainerInputs> | undefined, news: ColorContainerInputs): Promise<string | undefined> {
    if (olds?.release === news.release && olds.component === news.component) return undefined;
    try {
        await openStore(news.artifacts, process.cwd(), news.artifactToken).fetch({ component: news.component, release: news.release });
        await fetchArtifact(news);
        return undefined;
    } catch (e) {
        return (e as Error).message;
    }
}

/**
 * Pure-ish diff of one container: identity inputs replace; env and secrets replace only
 * the color that does not serve (asked live, failing closed); the rest update in place.
 */
export async function rolloutReplaces(
    olds: ColorContainerOutputs,
    news: ColorContainerInputs,
): Promise<{ replaces: string[]; pending: string[]; migrated?: true }> {
    const replaces = replacedKeys(olds, news);
    if (replaces.length === 1 && replaces[0] === "member" && news.member) {
        const location = (await getInstance(incusTarget(news.remote), news.name))?.location;
        // Placement follows a node that Incus's evacuation migrated: its new member is only recorded.
        if (location === news.member) {
            progress(`${news.name}: already on member ${news.member} (moved off ${olds.member ?? "its member"} by Incus); recording it`);
            return { replaces: [], pending: [], migrated: true };
        }
        // A rescheduled node whose member came back (or a changed member list): moving it is a
        // delete-first replace, so a serving node stays where it runs, as a rollout key waits.
        if (location !== undefined && location === olds.member && (await mightServe(news.guard, news.color))) return { replaces: [], pending: ["member"] };
    }
    const rollout = rolloutKeys(olds, news);
    if (replaces.length > 0 || rollout.length === 0) return { replaces: [...replaces, ...(replaces.length > 0 ? rollout : [])], pending: [] };
    if (await mightServe(news.guard, news.color)) return { replaces: [], pending: rollout };
    return { replaces: rollout, pending: [] };
}

/** Refuses, before anything is touched, removing (or replacing) a container on a member that does not answer. One query, only on a cluster. */
export async function refuseStranded(olds: Pick<ColorContainerOutputs, "name" | "member" | "remote" | "color">): Promise<void> {
    if (!olds.member) return;
    const m = await readMember(incusTarget(olds.remote), olds.member, `so ${olds.name} was not removed`);
    if (unreachable(m)) throw strandedRefusal(olds.name, m, olds.color);
}

/** Pure: whether the last observation in state says the container is not serving healthily. */
export function knownUnwell(olds: Pick<ColorContainerOutputs, "healthy" | "status">): boolean {
    return olds.healthy === false || (olds.status !== undefined && olds.status !== "Running");
}

/** One probe through the container's proxy device; it only answers while the container runs. */
export async function answersHealthy(i: ColorContainerInputs): Promise<boolean> {
    return judge(await probeAt(probeRoute(i.guard.host), healthUrl(i), i.health.timeoutMs), expectOf(i)).healthy;
}

/**
 * Converges one container on its config, as `up` must: a healthy one is left alone; a
 * missing one is recreated; one on another release is replaced (never while its color
 * serves); a stopped one is started and must pass the full health wait. One that runs
 * but stays unhealthy is kept for forensics and fails the step.
 */
export async function heal(olds: ColorContainerOutputs, news: ColorContainerInputs): Promise<ColorContainerOutputs> {
    const target = incusTarget(news.remote);
    if (news.inPlace && olds.release !== news.release) return adoptInPlace(news, await getInstance(target, news.name));
    const first = judge(await probeAt(probeRoute(news.guard.host), healthUrl(news), news.health.timeoutMs), expectOf(news));
    if (first.healthy) return containerOutputs(news, "Running", true);
    if (news.member) {
        const m = await readMember(target, news.member, `so ${news.name} was not healed`);
        // Evacuated: Incus stopped it there, and `incus cluster restore` starts it.
        if (unreachable(m) || m.state === "evacuated") {
            progress(`${news.name}: on member ${m.name}, which is ${m.state}; it waits for its member (HAProxy keeps it DOWN)`);
            return containerOutputs(news, "Unreachable", false);
        }
    }
    const inst = await getInstance(target, news.name);
    if (!inst) {
        progress(`${news.name}: missing; creating it again`);
        return (await launch(news)).outs;
    }
    const live = inst.config["user.bluegreen.release"];
    if (isOurs(inst, news) && live !== news.release) {
        progress(`${news.name}: runs release ${live ?? "(unknown)"}, not ${news.release}; replacing it`);
        return (await launch(news)).outs;
    }
    if (inst.status !== "Running") {
        progress(`${news.name}: ${inst.status}; starting it`);
        try {
            await runOrThrow(startCmd(target, news.name), `cannot start ${news.name}`);
        } catch (e) {
            throw initFailure(
                `${(e as Error).message}. The instance is kept for forensics (incus info --show-log ${news.name}); ` +
                    `run pulumi up again once it can start, or remove ${news.color} from bluegreen:colors to clean it up.`,
                news.name,
                containerOutputs(news, inst.status, false) as unknown as Record<string, unknown>,
            );
        }
        const w = await waitHealthy(news.name, healthUrl(news), news.health, expectOf(news), probeRoute(news.guard.host));
        if (!w.healthy) throw await unhealthy(news, w.reason, w.attempts);
        return containerOutputs(news, "Running", true);
    }
    // Running but not answering. One already known unhealthy is kept for forensics: one
    // probe, not a full wait, so it does not slow every `up`. One that was healthy may be
    // restarting: it gets the full wait.
    if (olds.healthy === false) throw await unhealthy(news, first.reason, 1);
    const w = await waitHealthy(news.name, healthUrl(news), news.health, expectOf(news), probeRoute(news.guard.host));
    if (!w.healthy) throw await unhealthy(news, w.reason, w.attempts);
    return containerOutputs(news, "Running", true);
}

/** A release the canary installed in place: recorded once the node runs it healthily. */
async function adoptInPlace(news: ColorContainerInputs, inst: InstanceInfo | undefined): Promise<ColorContainerOutputs> {
    const live = inst?.config["user.bluegreen.release"];
    if (inst && live === news.release && inst.status === "Running" && (await answersHealthy(news))) {
        progress(`${news.name}: runs ${news.release}, installed in place by the canary`);
        return containerOutputs(news, "Running", true);
    }
    throw new Error(
        `${news.name} runs ${live ?? "no release"} (${inst?.status ?? "absent"}), not ${news.release}: on ${news.color}, which serves, the canary installs a release in place ` +
            `and had not finished. Run pulumi up again to resume it, or set bluegreen:colors.${news.color}.release back to ${live ?? "the previous release"}.`,
    );
}

/** Deletes the container, unless its color serves traffic. An absent container is a no-op, whatever serves. */
export async function removeContainer(id: string, props: ColorContainerOutputs): Promise<void> {
    if (!(await getInstance(incusTarget(props.remote), id))) {
        progress(`${id}: already absent`);
        return;
    }
    await refuseIfRouted(props.guard, props.color, id, haproxyBackendName(props.component), serverName(props.color, props.node));
    const gone = await withIncusSlot(props.incusParallel, () => deleteInstance(incusTarget(props.remote), id));
    progress(gone ? `${id}: deleted` : `${id}: already absent`);
    if (gone) await audit(auditOf(props), { operation: "cleanup", color: props.color, release: props.release, details: { container: id } });
}

/** Live state for refresh: an empty id when the container is gone. */
export async function readContainer(id: string, props: ColorContainerOutputs): Promise<{ id: string; props?: ColorContainerOutputs }> {
    const inst = await getInstance(incusTarget(props.remote), id);
    if (!inst) return { id: "" };
    const release = inst.config["user.bluegreen.release"] ?? props.release;
    const live = { ...props, release };
    const healthy =
        inst.status === "Running" && judge(await probeAt(probeRoute(props.guard.host), healthUrl(live), props.health.timeoutMs), expectOf(props)).healthy;
    return { id, props: { ...live, status: inst.status, healthy } };
}
