// A stateful service (seed 003): a singleton container beside the colors, on Incus custom
// volumes that outlive every release. A release change is a guarded upgrade: stop,
// snapshot, deploy, health gate; on failure restore the data and redeploy last_good
// (model/stateful/stateful.ts is the state machine; snapshot.ts the snapshot and its records).
// The container is recreated for each release: it is disposable, the volumes are not.
// The create path decides as the update path does, from what is live: an `up` from an
// empty state never deploys straight over volumes that already hold data.

import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { runOrThrow } from "../../io/exec";
import { HaproxyHost, removeHostFile } from "../../io/haproxyHost";
import { probeAt } from "../../io/prober";
import {
    createCmd,
    deleteInstance,
    diskDevice,
    filePushCmd,
    getInstance,
    IncusTarget,
    InstanceInfo,
    proxyDevice,
    routedNicDevice,
    runIdempotentOrThrow,
    startCmd,
    stopCmd,
    volumeCreateCmd,
    volumeDeleteCmd,
    volumeExists,
} from "../../io/incus";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";
import { withTempDir } from "../../io/tmp";
import { initFailure, refusalMessage, refused } from "../../model/errors";
import {
    SnapshotMeta,
    StatefulLive,
    StepResult,
    UNKNOWN_RELEASE,
    UPGRADE_PHASES,
    UPGRADE_START,
    UpgradePhase,
    UpgradeRecord,
    UpgradeState,
    advance,
    decideStateful,
    isFinal,
    releaseOfPhase,
    resumeState,
    rollbackAlert,
    upgradeFailureMessage,
} from "../../model/stateful/stateful";
import { appUrl, incusTarget, loopbackUrl, probeRoute } from "../../model/traffic/topology";
import { routedConfig, routedNics } from "../traffic/haproxy";
import { assertMemberLive } from "../cluster/placement";
import { APP_LOG, AppContainerInputs, RELEASE_PATH, appLogTail, expectOf, fetchArtifact } from "../deploy";
import { judge, waitHealthy } from "../traffic/health";
import {
    ServiceStore,
    appendAlert,
    pruneSnapshots,
    readAppliedRestore,
    readLastGood,
    readOwner,
    readSnapshotMeta,
    readUpgradeRecord,
    recordPaths,
    removeUpgradeRecord,
    restoreCheck,
    restoreSnapshot,
    takeSnapshot,
    upgradeRecordPath,
    writeAppliedRestore,
    writeLastGood,
    writeOwner,
    writeUpgradeRecord,
} from "./snapshot";
import { AuditContext, audit, auditTo } from "../safety/audit";
import { runPostRollback } from "../safety/hooks";

export interface StatefulInputs extends AppContainerInputs {
    /** `name` is the container, `<prefix><service>`. */
    readonly service: string;
    /** Config name, Incus volume name and mount path, sorted by name; the first is BLUEGREEN_DATA_DIR. */
    readonly volumes: readonly { readonly name: string; readonly volume: string; readonly path: string }[];
    readonly pool: string;
    /** On a cluster, the member it is pinned to: its volumes live in that member's pool. */
    readonly member?: string;
    /** Its routed address (bluegreen:network mode routed). */
    readonly address?: string;
    /** With `address`: the members' interface its routed NIC hangs off. */
    readonly parent?: string;
    readonly deleteVolumes: boolean;
    /** A snapshot id to restore; applied once per new value. */
    readonly restore?: string;
    /** Where last_good, the snapshot record and the alerts live: beside the active-color history. */
    readonly host: HaproxyHost;
    readonly stateDir: string;
    /** bluegreen:hooks.postRollback: run after a failed upgrade was rolled back. */
    readonly postRollback?: string;
    /** Not config: the id this resource's create drew, also on the host (snapshot.ts readOwner). */
    readonly owner?: string;
}

export interface StatefulOutputs extends Omit<StatefulInputs, "artifactToken"> {
    readonly status: string;
    readonly healthy: boolean;
    readonly url: string;
    /** The release known healthy. */
    readonly lastGood?: string;
    /** The known-good snapshot. */
    readonly snapshot?: SnapshotMeta;
    /** The restore last applied, so keeping bluegreen:stateful.<name>.restore is a no-op. */
    readonly appliedRestore?: string;
}

/**
 * Inputs that say where the data is. A change would start the service on new, empty volumes
 * (or, with deleteVolumes, delete the data): refused in check, never a replacement.
 */
export const STATEFUL_PLACE = ["name", "pool", "remote"] as const;

/** Inputs whose change needs a new container: a guarded upgrade, to the same release when only these change. */
export const RECREATE_ON = ["release", "port", "hostPort", "healthPath", "env", "volumes", "image", "profiles"] as const;

const PLACE_KEY: Record<(typeof STATEFUL_PLACE)[number], string> = {
    name: "name (bluegreen:prefix)",
    pool: "pool",
    remote: "Incus remote (bluegreen:incus.remote)",
};

/** Pure: why a change of where the data is cannot be applied, and how to move the data instead. */
export function placeChangeRefusal(olds: StatefulInputs, news: StatefulInputs, key: (typeof STATEFUL_PLACE)[number]): string {
    const ref = (i: StatefulInputs, v: { volume: string }) => `${i.remote ? `${i.remote}:` : ""}${i.pool}/${v.volume}`;
    const moves = olds.volumes.map((o) => {
        const n = news.volumes.find((v) => v.name === o.name) ?? o;
        return `\`incus storage volume move ${ref(olds, o)} ${ref(news, n)}\``;
    });
    return refusalMessage({
        what:
            `changing the ${PLACE_KEY[key]} of stateful service ${news.service} (${key} ${olds[key] ?? "(local)"} to ${news[key] ?? "(local)"}) would start it on new, empty volumes: ` +
            `bluegreen never moves its data, and never deletes it on a replacement`,
        next:
            `to move it, remove ${news.service} from bluegreen:stateful and run up (its container goes, its volumes and snapshot stay), ` +
            `run ${moves.join(" and ")} (\`incus storage volume copy\` keeps the original), then add it back with the new setting: the next up finds its volumes and upgrades it under guard. ` +
            `Or set the ${key} back`,
        untouched: "Nothing was touched",
    });
}

export function storeOf(i: Pick<StatefulInputs, "service" | "name" | "remote" | "pool" | "volumes" | "host" | "stateDir">): ServiceStore {
    return {
        service: i.service,
        container: i.name,
        target: incusTarget(i.remote),
        pool: i.pool,
        volumes: i.volumes.map((v) => ({ name: v.name, volume: v.volume })),
        host: i.host,
        stateDir: i.stateDir,
    };
}

export function statefulHealthUrl(i: Pick<StatefulInputs, "hostPort" | "healthPath" | "port" | "address">): string {
    return i.address ? appUrl(i.port, i.healthPath, i.address) : loopbackUrl(i.hostPort, i.healthPath);
}

/** Pure: the instance config of the service running `release`. */
export function statefulInstanceConfig(i: StatefulInputs, release: string): Record<string, string> {
    return {
        "environment.PORT": String(i.port),
        "environment.BLUEGREEN_STACK": i.stack,
        "environment.BLUEGREEN_COMPONENT": i.service,
        "environment.BLUEGREEN_RELEASE": release,
        "environment.BLUEGREEN_HEALTH_PATH": i.healthPath,
        "environment.BLUEGREEN_DATA_DIR": i.volumes[0].path,
        ...(i.address ? { "environment.HOST": i.address } : {}),
        "user.bluegreen.managed": "true",
        "user.bluegreen.stack": i.stack,
        "user.bluegreen.stateful": i.service,
        "user.bluegreen.release": release,
        // So an `up` from an empty state can tell whether the live container is the configured one.
        "user.bluegreen.image": i.image,
        "user.bluegreen.profiles": i.profiles.join(","),
        ...routedConfig(i),
        ...Object.fromEntries(Object.entries(i.env ?? {}).map(([k, v]) => [`environment.${k}`, v])),
    };
}

/**
 * Pure: what of the live container differs from the configured one, release included
 * (env added, changed or removed, ports, volumes, image, profiles); undefined when nothing.
 */
export function statefulMismatch(inst: InstanceInfo, i: StatefulInputs): string | undefined {
    const want = statefulInstanceConfig(i, i.release);
    for (const [k, v] of Object.entries(want)) if (inst.config[k] !== v) return `${k} is ${JSON.stringify(inst.config[k] ?? null)}, not ${JSON.stringify(v)}`;
    const extra = Object.keys(inst.config).find((k) => k.startsWith("environment.") && !(k in want));
    if (extra) return `${extra} is set, and not in config`;
    const devices: Record<string, Record<string, string>> = {
        ...(i.address && i.parent
            ? { eth0: routedNicDevice({ parent: i.parent, address: i.address }) }
            : { http: proxyDevice({ listenPort: i.hostPort, connectPort: i.port }) }),
        ...Object.fromEntries(Object.entries(statefulDisks(i)).map(([k, d]) => [k, diskDevice(d)])),
    };
    const sorted = (d: Readonly<Record<string, string>> | undefined) => JSON.stringify(Object.entries(d ?? {}).sort());
    for (const name of new Set([...Object.keys(devices), ...Object.keys(inst.devices)])) {
        if (sorted(inst.devices[name]) !== sorted(devices[name])) return `device ${name} differs`;
    }
    return undefined;
}

/** Pure: one disk device per volume. */
export function statefulDisks(i: Pick<StatefulInputs, "volumes" | "pool">): Record<string, { pool: string; volume: string; path: string }> {
    return Object.fromEntries(i.volumes.map((v) => [`vol-${v.name}`, { pool: i.pool, volume: v.volume, path: v.path }]));
}

function outputsOf(i: StatefulInputs, extra: Omit<StatefulOutputs, keyof Omit<StatefulInputs, "artifactToken"> | "url">): StatefulOutputs {
    const { artifactToken: _secret, ...rest } = i;
    return { ...rest, url: statefulHealthUrl(i), ...extra };
}

function isOurs(inst: InstanceInfo, i: StatefulInputs): boolean {
    return (
        inst.config["user.bluegreen.managed"] === "true" &&
        inst.config["user.bluegreen.stack"] === i.stack &&
        inst.config["user.bluegreen.stateful"] === i.service
    );
}

async function ensureVolumes(i: StatefulInputs): Promise<void> {
    const target = incusTarget(i.remote);
    for (const v of i.volumes) {
        if (await volumeExists(target, i.pool, v.volume)) continue;
        progress(`${i.service}: creating volume ${v.volume} in pool ${i.pool}`);
        await runOrThrow(volumeCreateCmd(target, i.pool, v.volume, i.member), `cannot create volume ${v.volume} of ${i.service}`);
    }
}

/** Stops the service and waits until Incus really reports it stopped (the seed's wait_undeployed). */
async function stopAndWait(i: StatefulInputs): Promise<void> {
    const target = incusTarget(i.remote);
    const inst = await getInstance(target, i.name);
    if (!inst || inst.status === "Stopped") return;
    progress(`${i.name}: stopping`);
    await runOrThrow(stopCmd(target, i.name), `cannot stop ${i.name}`);
    const stopped = await poll(async () => ((await getInstance(target, i.name))?.status ?? "Stopped") === "Stopped" || undefined, {
        intervalMs: 250,
        timeoutMs: 30_000,
    });
    if (!stopped) throw new Error(`${i.name} did not stop within 30 s`);
}

/** Deletes the old container; one a killed run was still creating (Incus: "busy running a create operation", ~10 s) is waited for. */
async function deleteWhenIdle(target: IncusTarget, name: string): Promise<void> {
    let last = "";
    const done = await poll(
        async () => {
            try {
                await deleteInstance(target, name);
                return true;
            } catch (e) {
                last = (e as Error).message;
                if (/is busy running/i.test(last)) return undefined;
                throw e;
            }
        },
        { intervalMs: 500, timeoutMs: 60_000 },
    );
    if (!done) throw new Error(`${name} stayed busy for 60 s: ${last}`);
}

/** A new container of `release` on the service's volumes; an old one is deleted first (the volumes stay). */
async function deployRelease(i: StatefulInputs, release: string): Promise<void> {
    const target = incusTarget(i.remote);
    const existing = await getInstance(target, i.name);
    if (existing && !isOurs(existing, i)) {
        throw refused(
            `instance ${i.name} already exists and is not stack ${i.stack}'s stateful service ${i.service}; rename or delete it, or rename the service. Nothing was touched.`,
        );
    }
    // Its volumes live on its member: it never goes elsewhere.
    if (i.member)
        await assertMemberLive(target, i.member, i.name, [
            `keep bluegreen:stateful.${i.service}.release as it is until then`,
            `move it for good with the service stopped (incus move ${i.name} --target <member>, and incus storage volume copy for each volume), then set bluegreen:stateful.${i.service}.member`,
        ]);
    await ensureVolumes(i);
    const artifact = await fetchArtifact({ artifacts: i.artifacts, artifactToken: i.artifactToken, component: i.service, release });
    if (existing) await deleteWhenIdle(target, i.name);
    await withTempDir(async (dir) => {
        const file = path.join(dir, "release.tar.gz");
        fs.writeFileSync(file, new Uint8Array(artifact));
        progress(`${i.name}: creating from ${i.image} with release ${release} on ${i.volumes.map((v) => v.volume).join(", ")}`);
        await runOrThrow(
            createCmd(target, i.name, {
                image: i.image,
                profiles: i.profiles,
                config: statefulInstanceConfig(i, release),
                proxies: i.address ? {} : { http: { listenPort: i.hostPort, connectPort: i.port } },
                disks: statefulDisks(i),
                ...(i.member ? { member: i.member } : {}),
                ...routedNics(i),
            }),
            `cannot create ${i.name}`,
        );
        await runIdempotentOrThrow(filePushCmd(target, i.name, file, RELEASE_PATH), `cannot install release ${release} in ${i.name}`);
        await runOrThrow(startCmd(target, i.name), `cannot start ${i.name}`);
    });
}

/** The full health wait; the app log's tail in the failure. */
async function gate(i: StatefulInputs, release: string): Promise<StepResult> {
    const w = await waitHealthy(`${i.name} (${release})`, statefulHealthUrl(i), i.health, expectOf(i), probeRoute(i.host));
    if (w.healthy) return { ok: true };
    const log = await appLogTail(i, 10);
    return {
        ok: false,
        message: `${i.name} on ${release} stayed unhealthy after ${w.attempts} health checks: ${w.reason}${log ? `\n--- last lines of ${APP_LOG} ---\n${log}` : ""}`,
    };
}

async function attempt(step: () => Promise<StepResult | void>): Promise<StepResult> {
    try {
        return (await step()) ?? { ok: true };
    } catch (e) {
        return { ok: false, message: (e as Error).message };
    }
}

/** What every outcome carries over: the records the host keeps, as outputs. */
interface Kept {
    readonly lastGood?: string;
    readonly appliedRestore?: string;
}

function keptOutputs(k: Kept): Kept {
    return { ...(k.lastGood ? { lastGood: k.lastGood } : {}), ...(k.appliedRestore ? { appliedRestore: k.appliedRestore } : {}) };
}

/** A fresh id for a new resource: which incarnation owns the service on the host. */
export function newOwner(): string {
    return randomBytes(8).toString("hex");
}

/**
 * The create: the same decision as an update, from what is live. A first deploy makes the
 * volumes; volumes or a container already there (an `up` from an empty state, a service
 * added back) go through the guarded path or are adopted when they are what config asks for.
 */
export async function createService(i: StatefulInputs): Promise<{ id: string; outs: StatefulOutputs }> {
    return { id: i.name, outs: await convergeService(undefined, { ...i, owner: i.owner ?? newOwner() }) };
}

/** First deploy: no container and no volumes. A restore configured now is recorded: there is no data to replace. */
async function firstDeploy(i: StatefulInputs, store: ServiceStore): Promise<StatefulOutputs> {
    if (i.restore) await writeAppliedRestore(store, i.restore);
    const kept = { appliedRestore: i.restore };
    await deployRelease(i, i.release);
    const r = await gate(i, i.release);
    const snap = await snapshotOf(store);
    if (!r.ok) {
        throw initFailure(
            `${r.message}. The container is kept for forensics; its volumes are new and hold only what ${i.release} wrote. Fix the release and set bluegreen:stateful.${i.service}.release.`,
            i.name,
            outputsOf(i, { status: "Running", healthy: false, ...keptOutputs(kept), ...snap }) as unknown as Record<string, unknown>,
        );
    }
    await writeLastGood(store, i.release);
    return outputsOf(i, { status: "Running", healthy: true, ...keptOutputs({ ...kept, lastGood: i.release }), ...snap });
}

async function snapshotOf(store: ServiceStore): Promise<{ snapshot?: SnapshotMeta }> {
    const snapshot = await readSnapshotMeta(store);
    return snapshot ? { snapshot } : {};
}

/** Where a guarded upgrade starts: fresh from what the volumes hold, or from a record a killed run left. */
type UpgradeStart =
    | { readonly kind: "fresh"; readonly from?: string; readonly lastGood?: string }
    | { readonly kind: "resume"; readonly record: UpgradeRecord; readonly live: Pick<StatefulLive, "status" | "release"> };

function withoutFailure(r: UpgradeRecord): UpgradeRecord {
    const { failure: _f, ...rest } = r;
    return rest;
}

/** Prunes all but `keep`; a failure only warns: the data is safe, the next commit prunes again. */
async function pruneAfter(store: ServiceStore, keep: string): Promise<void> {
    try {
        await pruneSnapshots(store, [keep]);
    } catch (e) {
        progress(`${store.service}: could not delete an older snapshot (${(e as Error).message}); the next upgrade tries again`);
    }
}

/**
 * The guarded upgrade to `news.release`, run through the state machine, with its record on
 * the host from before the stop to the end. Returns the outputs on success; throws a
 * partial failure naming everything on failure.
 */
async function upgradeService(news: StatefulInputs, start: UpgradeStart, kept: Kept): Promise<StatefulOutputs> {
    const store = storeOf(news);
    const began = Date.now();
    let record: UpgradeRecord;
    let state: UpgradeState;
    if (start.kind === "resume") {
        const old = start.record;
        state = resumeState(old, start.live, news.release);
        record = state === UPGRADE_START ? { ...withoutFailure(old), time: new Date().toISOString() } : old;
        if (old.attempted !== news.release) record = { ...withoutFailure(record), attempted: news.release };
        progress(
            `${news.service}: resuming the interrupted upgrade to ${old.attempted} (data of ${old.from ?? UNKNOWN_RELEASE}, pre-upgrade snapshot ${old.snapshot ?? "not taken yet"})` +
                `${old.attempted !== news.release ? `; ${news.release} is configured now` : ""}: ${state.phase}`,
        );
    } else {
        record = {
            service: news.service,
            attempted: news.release,
            ...(start.from ? { from: start.from } : {}),
            ...(start.lastGood ? { lastGood: start.lastGood } : {}),
            time: new Date().toISOString(),
        };
        state = UPGRADE_START;
        progress(`${news.service}: guarded upgrade ${start.from ?? UNKNOWN_RELEASE} -> ${news.release} (last_good ${start.lastGood ?? "none"})`);
    }
    const { from, lastGood } = record;
    // Before the stop: a run killed from here on resumes from it.
    await writeUpgradeRecord(store, record);
    let meta: SnapshotMeta | undefined;
    const steps: Record<UpgradePhase, () => Promise<StepResult | void>> = {
        "reset-stop": () => stopAndWait(news),
        reset: async () => {
            await restoreSnapshot(store, record.snapshot!);
        },
        stop: () => stopAndWait(news),
        snapshot: async () => {
            // A volume added in config starts empty, and is in the snapshot too.
            await ensureVolumes(news);
            meta = await takeSnapshot(store, from ?? UNKNOWN_RELEASE);
            record = { ...record, snapshot: meta.id };
            // From here on the new release may run: a resume restores this snapshot, never takes another.
            await writeUpgradeRecord(store, record);
        },
        deploy: () => deployRelease(news, news.release),
        health: () => gate(news, news.release),
        commit: () => writeLastGood(store, news.release),
        restart: async () => {
            await runOrThrow(startCmd(incusTarget(news.remote), news.name), `cannot start ${news.name}`);
            return gate(news, from ?? UNKNOWN_RELEASE);
        },
        "rollback-stop": async () => {
            if (!record.failure && state.failure) {
                record = { ...record, failure: state.failure };
                await writeUpgradeRecord(store, record);
            }
            await stopAndWait(news);
        },
        restore: async () => {
            await restoreSnapshot(store, record.snapshot!);
        },
        redeploy: async () => {
            if (!lastGood)
                return {
                    ok: false,
                    message: `nothing says which release wrote the data of ${news.service}: it is back as it was before ${news.release} ran, and ${news.name} is left stopped`,
                };
            await deployRelease(news, lastGood);
            return { ok: true };
        },
        "recovery-health": () => gate(news, lastGood!),
        alert: () => appendAlert(store, rollbackAlert(news.service, news.release, lastGood ?? "none", state, record.snapshot, new Date())),
        done: async () => undefined,
        failed: async () => undefined,
    };
    for (let n = 0; n < UPGRADE_PHASES.length && !isFinal(state); n++) {
        const phase = state.phase;
        if (phase !== "stop")
            progress(
                `${news.service}: ${phase} (${releaseOfPhase(phase, news.release, lastGood ?? UNKNOWN_RELEASE)}, ${((Date.now() - began) / 1000).toFixed(1)} s in)`,
            );
        state = advance(state, await attempt(steps[phase]));
    }
    // The record goes once last_good serves (again); the previous known-good only at the end.
    if (state.phase === "done" || state.recovered) {
        await removeUpgradeRecord(store);
        if (record.snapshot) await pruneAfter(store, record.snapshot);
    }
    const snap = await snapshotOf(store);
    const ctx = auditOfService(news);
    if (snap.snapshot && snap.snapshot.id !== meta?.id) {
        await audit(ctx, {
            operation: "snapshot",
            color: news.service,
            release: snap.snapshot.release,
            details: { id: snap.snapshot.id, volumes: snap.snapshot.volumes.join(",") },
        });
    }
    if (state.phase === "done") {
        progress(`${news.service}: upgraded to ${news.release} in ${((Date.now() - began) / 1000).toFixed(1)} s; last_good is now ${news.release}`);
        await audit(ctx, {
            operation: "upgrade",
            color: news.service,
            release: news.release,
            details: { from: from ?? UNKNOWN_RELEASE, seconds: Math.round((Date.now() - began) / 100) / 10 },
        });
        return outputsOf(news, { status: "Running", healthy: true, ...keptOutputs({ ...kept, lastGood: news.release }), ...snap });
    }
    const alert = rollbackAlert(news.service, news.release, lastGood ?? "none", state, record.snapshot, new Date());
    const rf = state.recoveryFailure ? `${state.recoveryFailure.phase}: ${state.recoveryFailure.message}` : undefined;
    const head = `guarded upgrade of ${news.service} to ${news.release} failed`;
    const failedAt = state.failure?.phase;
    const message =
        failedAt === "stop"
            ? `${head} before anything changed: ${state.failure!.message}`
            : failedAt === "snapshot"
              ? `${head} at the snapshot, before the new release ran: ${state.failure!.message}. Its volumes were not touched; ${from ?? "the service"} ` +
                (state.recovered ? "was started again and is healthy." : `could not be started again (${rf ?? "?"}): run \`incus start ${news.name}\`.`) +
                ` Free space in pool ${news.pool} (incus storage info ${news.pool}) and run up again.`
              : failedAt === "reset-stop" || failedAt === "reset"
                ? `${head}: resuming it, the pre-upgrade snapshot ${record.snapshot} could not be put back (${failedAt}: ${state.failure!.message}). ` +
                  `Its volumes may hold data a newer release wrote. The upgrade record ${upgradeRecordPath(news.stateDir, news.service)} is kept, so the next up tries again; ` +
                  `or set bluegreen:stateful.${news.service}.restore: ${record.snapshot} and run up again.`
                : !lastGood && state.recoveryFailure?.phase === "redeploy"
                  ? `${head} (${alert.reason}). Nothing says which release wrote the data of ${news.service}, so there is none to bring back: ` +
                    `the data was restored from snapshot ${record.snapshot}, taken before ${news.release} ran, and ${news.name} is left stopped. ` +
                    `Set bluegreen:stateful.${news.service}.release to the release that wrote it and run up again: it starts from that snapshot, under guard.`
                  : upgradeFailureMessage(alert, rf);
    const rolledBack = failedAt !== "stop" && failedAt !== "snapshot" && failedAt !== "reset-stop" && failedAt !== "reset";
    if (rolledBack) {
        await audit(ctx, {
            operation: "rollback",
            color: news.service,
            release: lastGood ?? UNKNOWN_RELEASE,
            details: { kind: "upgrade", attempted: news.release, recovered: state.recovered === true },
        });
    }
    const hook = rolledBack
        ? await runPostRollback(news, { operation: "upgrade", color: news.service, release: lastGood ?? UNKNOWN_RELEASE, failedRelease: news.release })
        : "";
    // State records what runs now (last_good when recovered), so the next `up` tries the upgrade again.
    const nowRuns = state.recovered ? (failedAt === "snapshot" || failedAt === "stop" ? from : lastGood) : news.release;
    throw initFailure(
        message + hook,
        news.name,
        outputsOf(
            { ...news, release: nowRuns ?? news.release },
            { status: state.recovered ? "Running" : "Unknown", healthy: state.recovered === true, ...keptOutputs(kept), ...snap },
        ) as unknown as Record<string, unknown>,
    );
}

/** Where a service's events go. */
function auditOfService(i: StatefulInputs): AuditContext {
    return auditTo(i.host, i.stateDir, i.stack, i.broadcast, i.passEnv);
}

/**
 * Restore on demand: the data of snapshot `id` back in every volume, then the configured
 * release, health-gated. Applied once: the host records it before anything else runs.
 */
async function restoreService(news: StatefulInputs, id: string, kept: Kept): Promise<StatefulOutputs> {
    const store = storeOf(news);
    const problem = await restoreCheck(store, id);
    if (problem) throw refused(`${problem}. Nothing was touched: set bluegreen:stateful.${news.service}.restore to the id status --json shows, or remove it.`);
    const meta = (await readSnapshotMeta(store))!;
    if (meta.release !== news.release)
        progress(`${news.service}: snapshot ${id} holds the data of ${meta.release}; it is restored under ${news.release}, as configured`);
    await stopAndWait(news);
    await restoreSnapshot(store, id);
    await writeAppliedRestore(store, id);
    // The operator chose this data: an upgrade that was under way is over.
    await removeUpgradeRecord(store);
    await audit(auditOfService(news), { operation: "restore", color: news.service, release: news.release, details: { id, of: meta.release } });
    await deployRelease(news, news.release);
    const r = await gate(news, news.release);
    if (r.ok) await writeLastGood(store, news.release);
    const lastGood = r.ok ? news.release : kept.lastGood;
    const outs = outputsOf(news, { status: "Running", healthy: r.ok, ...keptOutputs({ lastGood, appliedRestore: id }), snapshot: meta });
    if (!r.ok)
        throw initFailure(
            `${news.service}: restored from ${id}, but ${r.message}. The volumes hold the snapshot's data; the restore is not applied again.`,
            news.name,
            outs as unknown as Record<string, unknown>,
        );
    return outs;
}

/** Whether any of the service's volumes exists. */
async function anyVolume(i: StatefulInputs): Promise<boolean> {
    const target = incusTarget(i.remote);
    for (const v of i.volumes) if (await volumeExists(target, i.pool, v.volume)) return true;
    return false;
}

/**
 * Converges the service on its config: create, upgrade, resume, restore, start, or nothing.
 * `olds` is absent on the create path: then only what is live says what runs.
 */
export async function convergeService(olds: StatefulOutputs | undefined, news: StatefulInputs): Promise<StatefulOutputs> {
    const store = storeOf(news);
    const target = incusTarget(news.remote);
    const inst = await getInstance(target, news.name);
    if (inst && !isOurs(inst, news)) {
        throw refused(
            `instance ${news.name} already exists and is not stack ${news.stack}'s stateful service ${news.service}; rename or delete it, or rename the service. Nothing was touched.`,
        );
    }
    const lastGood = await readLastGood(store);
    const upgrade = await readUpgradeRecord(store);
    // A new resource owns the service from here on; an older one's delete then deletes nothing.
    if (!olds && news.owner) await writeOwner(store, news.owner);
    const hostRestore = await readAppliedRestore(store);
    // A restore removed from config is forgotten, so naming the same id again applies it again.
    if (news.restore === undefined && hostRestore !== undefined) await writeAppliedRestore(store, undefined);
    const applied = news.restore !== undefined && (hostRestore === news.restore || olds?.appliedRestore === news.restore) ? news.restore : undefined;
    const kept: Kept = { lastGood, appliedRestore: applied };
    const release = inst ? (inst.config["user.bluegreen.release"] ?? olds?.release) : undefined;
    const mismatch = !inst
        ? undefined
        : olds
          ? RECREATE_ON.find((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null))
          : statefulMismatch(inst, news);
    const live: StatefulLive = {
        ...(inst ? { status: inst.status, ...(release ? { release } : {}) } : {}),
        matches: mismatch === undefined,
        volumes: inst !== undefined || (await anyVolume(news)),
        ...(lastGood ? { lastGood } : {}),
        ...(upgrade ? { upgrade } : {}),
        ...(hostRestore ? { appliedRestore: hostRestore } : {}),
    };
    const action = decideStateful(live, { release: news.release, restore: news.restore, appliedRestore: applied });
    switch (action.kind) {
        case "create":
            if (olds) progress(`${news.name}: missing, and so are its volumes; creating both`);
            return firstDeploy(news, store);
        case "restore":
            return restoreService(news, action.snapshot, kept);
        case "resume":
            return upgradeService(news, { kind: "resume", record: action.record, live }, kept);
        case "upgrade":
            if (!olds || !inst)
                progress(
                    `${news.name}: ${inst ? `found running ${release ?? "an unknown release"}${mismatch ? ` (${mismatch})` : ""}` : "missing"}; its volumes are there, so it goes through the guarded upgrade`,
                );
            return upgradeService(
                news,
                { kind: "fresh", ...(action.from ? { from: action.from } : {}), ...((lastGood ?? action.from) ? { lastGood: lastGood ?? action.from } : {}) },
                kept,
            );
        case "start":
        case "noop": {
            if (action.kind === "start") {
                progress(`${news.name}: ${inst!.status}; starting it`);
                await runOrThrow(startCmd(target, news.name), `cannot start ${news.name}`);
            } else if (!olds) progress(`${news.name}: adopting the running instance of ${news.release}, as configured`);
            const r = await gate(news, news.release);
            if (r.ok && !olds) await writeLastGood(store, news.release);
            const outs = outputsOf(news, {
                status: "Running",
                healthy: r.ok,
                ...keptOutputs(r.ok && !olds ? { ...kept, lastGood: news.release } : kept),
                ...(await snapshotOf(store)),
            });
            if (!r.ok)
                throw initFailure(
                    `${r.message}. The container is kept for forensics; run \`incus start ${news.name}\` or fix the release.`,
                    news.name,
                    outs as unknown as Record<string, unknown>,
                );
            return outs;
        }
    }
}

/**
 * Removing the service: the container goes; the volumes, their snapshot and the records stay
 * unless deleteVolumes. The delete half of a replacement (another resource owns the service
 * on the host now) deletes nothing at all.
 */
export async function removeService(id: string, props: StatefulOutputs): Promise<void> {
    const store = storeOf(props);
    const owner = await readOwner(store);
    if (owner !== undefined && owner !== props.owner) {
        progress(`${props.service}: another resource owns it now (a replacement); ${id} and its volumes are left to it`);
        return;
    }
    const target = incusTarget(props.remote);
    const gone = await deleteInstance(target, id);
    progress(gone ? `${id}: deleted` : `${id}: already absent`);
    const names = props.volumes.map((v) => v.volume).join(", ");
    if (!props.deleteVolumes) {
        progress(
            `${props.service}: volumes ${names} kept, with snapshot ${props.snapshot?.id ?? "(none)"}; set bluegreen:stateful.${props.service}.deleteVolumes: true before removing it to delete them`,
        );
        return;
    }
    await pruneSnapshots(store, []);
    for (const v of props.volumes) {
        if (await volumeExists(target, props.pool, v.volume))
            await runOrThrow(volumeDeleteCmd(target, props.pool, v.volume), `cannot delete volume ${v.volume}`);
    }
    for (const file of recordPaths(props.stateDir, props.service)) await removeHostFile(props.host, file);
    progress(`${props.service}: volumes ${names} and their snapshots deleted (deleteVolumes: true)`);
}

/** Live state for refresh. */
export async function readService(id: string, props: StatefulOutputs): Promise<{ id: string; props?: StatefulOutputs }> {
    const inst = await getInstance(incusTarget(props.remote), id);
    if (!inst) return { id: "" };
    const release = inst.config["user.bluegreen.release"] ?? props.release;
    const healthy =
        inst.status === "Running" && judge(await probeAt(probeRoute(props.host), statefulHealthUrl(props), props.health.timeoutMs), expectOf(props)).healthy;
    const store = storeOf(props);
    const lastGood = await readLastGood(store);
    const snapshot = await readSnapshotMeta(store);
    const { lastGood: _l, snapshot: _s, ...rest } = props;
    return { id, props: { ...rest, release, status: inst.status, healthy, ...(lastGood ? { lastGood } : {}), ...(snapshot ? { snapshot } : {}) } };
}
