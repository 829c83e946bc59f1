// A stateful service (seed 003): a singleton container beside the colors, on Incus custom
// volumes that outlive every release. A release change is a guarded upgrade: stop,
// snapshot, deploy, health gate; on failure restore the data and redeploy last_good
// (model/stateful.ts is the state machine; snapshot.ts the snapshot and its records).
// The container is recreated for each release: it is disposable, the volumes are not.

import * as fs from "fs";
import * as path from "path";
import { runOrThrow } from "../io/exec";
import { HaproxyHost, removeHostFile } from "../io/haproxyHost";
import { probe } from "../io/http";
import {
    InstanceInfo,
    createCmd,
    deleteInstance,
    filePushCmd,
    getInstance,
    startCmd,
    stopCmd,
    volumeCreateCmd,
    volumeDeleteCmd,
    volumeExists,
} from "../io/incus";
import { poll } from "../io/poll";
import { progress } from "../io/progress";
import { withTempDir } from "../io/tmp";
import { initFailure, refused } from "../model/errors";
import {
    SnapshotMeta,
    StepResult,
    UPGRADE_PHASES,
    UPGRADE_START,
    UpgradePhase,
    UpgradeState,
    advance,
    decideStateful,
    isFinal,
    releaseOfPhase,
    rollbackAlert,
    upgradeFailureMessage,
} from "../model/stateful";
import { incusTarget, loopbackUrl } from "../model/topology";
import { APP_LOG, AppContainerInputs, RELEASE_PATH, appLogTail, expectOf, fetchArtifact } from "./deploy";
import { judge, waitHealthy } from "./health";
import {
    ServiceStore,
    appendAlert,
    lastGoodPath,
    pruneSnapshots,
    readLastGood,
    readSnapshotMeta,
    restoreCheck,
    restoreSnapshot,
    snapshotMetaPath,
    takeSnapshot,
    writeLastGood,
} from "./snapshot";
import { AuditContext, audit, auditTo } from "./audit";
import { runPostRollback } from "./hooks";

export interface StatefulInputs extends AppContainerInputs {
    /** `name` is the container, `<prefix><service>`. */
    readonly service: string;
    /** Config name, Incus volume name and mount path, sorted by name; the first is BLUEGREEN_DATA_DIR. */
    readonly volumes: readonly { readonly name: string; readonly volume: string; readonly path: string }[];
    readonly pool: string;
    readonly deleteVolumes: boolean;
    /** A snapshot id to restore; applied once per new value. */
    readonly restore?: string;
    /** Where last_good, the snapshot record and the alerts live: beside the active-color history. */
    readonly host: HaproxyHost;
    readonly stateDir: string;
    /** bluegreen:hooks.postRollback: run after a failed upgrade was rolled back. */
    readonly postRollback?: string;
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

/** Inputs that name another service: a new resource (delete first: the names are fixed). */
export const STATEFUL_REPLACE_ON = ["name", "stack", "service", "pool", "remote"] as const;

/** Inputs whose change needs a new container: a guarded upgrade, to the same release when only these change. */
export const RECREATE_ON = ["release", "port", "hostPort", "healthPath", "env", "volumes", "image", "profiles"] as const;

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

export function statefulHealthUrl(i: Pick<StatefulInputs, "hostPort" | "healthPath">): string {
    return loopbackUrl(i.hostPort, i.healthPath);
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
        "user.bluegreen.managed": "true",
        "user.bluegreen.stack": i.stack,
        "user.bluegreen.stateful": i.service,
        "user.bluegreen.release": release,
        ...Object.fromEntries(Object.entries(i.env ?? {}).map(([k, v]) => [`environment.${k}`, v])),
    };
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
        await runOrThrow(volumeCreateCmd(target, i.pool, v.volume), `cannot create volume ${v.volume} of ${i.service}`);
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

/** A new container of `release` on the service's volumes; an old one is deleted first (the volumes stay). */
async function deployRelease(i: StatefulInputs, release: string): Promise<void> {
    const target = incusTarget(i.remote);
    const existing = await getInstance(target, i.name);
    if (existing && !isOurs(existing, i)) {
        throw refused(
            `instance ${i.name} already exists and is not stack ${i.stack}'s stateful service ${i.service}; rename or delete it, or rename the service. Nothing was touched.`,
        );
    }
    await ensureVolumes(i);
    const artifact = await fetchArtifact({ artifacts: i.artifacts, artifactToken: i.artifactToken, component: i.service, release });
    if (existing) await deleteInstance(target, i.name);
    await withTempDir(async (dir) => {
        const file = path.join(dir, "release.tar.gz");
        fs.writeFileSync(file, new Uint8Array(artifact));
        progress(`${i.name}: creating from ${i.image} with release ${release} on ${i.volumes.map((v) => v.volume).join(", ")}`);
        await runOrThrow(
            createCmd(target, i.name, {
                image: i.image,
                profiles: i.profiles,
                config: statefulInstanceConfig(i, release),
                proxies: { http: { listenPort: i.hostPort, connectPort: i.port } },
                disks: statefulDisks(i),
            }),
            `cannot create ${i.name}`,
        );
        await runOrThrow(filePushCmd(target, i.name, file, RELEASE_PATH), `cannot install release ${release} in ${i.name}`);
        await runOrThrow(startCmd(target, i.name), `cannot start ${i.name}`);
    });
}

/** The full health wait; the app log's tail in the failure. */
async function gate(i: StatefulInputs, release: string): Promise<StepResult> {
    const w = await waitHealthy(`${i.name} (${release})`, statefulHealthUrl(i), i.health, expectOf(i));
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

/** First deploy, or a container gone missing: volumes kept (or created), container made, health gate. */
export async function createService(i: StatefulInputs): Promise<{ id: string; outs: StatefulOutputs }> {
    const store = storeOf(i);
    const existing = await getInstance(incusTarget(i.remote), i.name);
    if (existing && isOurs(existing, i) && existing.status === "Running" && existing.config["user.bluegreen.release"] === i.release) {
        if (judge(await probe(statefulHealthUrl(i), i.health.timeoutMs), expectOf(i)).healthy) {
            progress(`${i.name}: adopting the running, healthy instance of ${i.release}`);
            await writeLastGood(store, i.release);
            return {
                id: i.name,
                outs: outputsOf(i, { status: "Running", healthy: true, lastGood: i.release, ...recordedRestore(i), ...(await snapshotOf(store)) }),
            };
        }
    }
    await deployRelease(i, i.release);
    const r = await gate(i, i.release);
    const snap = await snapshotOf(store);
    if (!r.ok) {
        const lastGood = await readLastGood(store);
        throw initFailure(
            `${r.message}. The container is kept for forensics and its volumes are untouched; fix the release and set bluegreen:stateful.${i.service}.release.`,
            i.name,
            outputsOf(i, { status: "Running", healthy: false, ...(lastGood ? { lastGood } : {}), ...snap }) as unknown as Record<string, unknown>,
        );
    }
    await writeLastGood(store, i.release);
    return { id: i.name, outs: outputsOf(i, { status: "Running", healthy: true, lastGood: i.release, ...recordedRestore(i), ...snap }) };
}

/** A restore configured at creation is only recorded: there is no data of this service to replace yet. */
function recordedRestore(i: StatefulInputs): { appliedRestore?: string } {
    return i.restore ? { appliedRestore: i.restore } : {};
}

async function snapshotOf(store: ServiceStore): Promise<{ snapshot?: SnapshotMeta }> {
    const snapshot = await readSnapshotMeta(store);
    return snapshot ? { snapshot } : {};
}

/**
 * The guarded upgrade from what runs to `news.release`, run through the state machine.
 * Returns the outputs on success; throws a partial failure naming everything on failure.
 */
export async function upgradeService(olds: StatefulOutputs, news: StatefulInputs, running: string): Promise<StatefulOutputs> {
    const store = storeOf(news);
    const lastGood = (await readLastGood(store)) ?? running;
    const started = Date.now();
    progress(`${news.service}: guarded upgrade ${running} -> ${news.release} (last_good ${lastGood})`);
    let meta: SnapshotMeta | undefined;
    let state: UpgradeState = UPGRADE_START;
    const steps: Record<UpgradePhase, () => Promise<StepResult | void>> = {
        stop: () => stopAndWait(news),
        snapshot: async () => {
            meta = await takeSnapshot(store, running);
        },
        deploy: () => deployRelease(news, news.release),
        health: () => gate(news, news.release),
        commit: () => writeLastGood(store, news.release),
        restart: async () => {
            await runOrThrow(startCmd(incusTarget(news.remote), news.name), `cannot start ${news.name}`);
            return gate(news, running);
        },
        "rollback-stop": () => stopAndWait(news),
        restore: async () => {
            await restoreSnapshot(store, meta!.id);
        },
        redeploy: () => deployRelease(news, lastGood),
        "recovery-health": () => gate(news, lastGood),
        alert: () => appendAlert(store, rollbackAlert(news.service, news.release, lastGood, state, meta?.id, new Date())),
        done: async () => undefined,
        failed: async () => undefined,
    };
    for (let n = 0; n < UPGRADE_PHASES.length && !isFinal(state); n++) {
        const phase = state.phase;
        if (phase !== "stop")
            progress(`${news.service}: ${phase} (${releaseOfPhase(phase, news.release, lastGood)}, ${((Date.now() - started) / 1000).toFixed(1)} s in)`);
        state = advance(state, await attempt(steps[phase]));
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
        progress(`${news.service}: upgraded to ${news.release} in ${((Date.now() - started) / 1000).toFixed(1)} s; last_good is now ${news.release}`);
        await audit(ctx, {
            operation: "upgrade",
            color: news.service,
            release: news.release,
            details: { from: running, seconds: Math.round((Date.now() - started) / 100) / 10 },
        });
        return outputsOf(news, {
            status: "Running",
            healthy: true,
            lastGood: news.release,
            ...snap,
            ...(olds.appliedRestore ? { appliedRestore: olds.appliedRestore } : {}),
        });
    }
    const alert = rollbackAlert(news.service, news.release, lastGood, state, meta?.id, new Date());
    const rf = state.recoveryFailure ? `${state.recoveryFailure.phase}: ${state.recoveryFailure.message}` : undefined;
    const head = `guarded upgrade of ${news.service} to ${news.release} failed`;
    const message =
        state.failure?.phase === "stop"
            ? `${head} before anything changed: ${state.failure.message}`
            : state.failure?.phase === "snapshot"
              ? `${head} at the snapshot, before the new release ran: ${state.failure.message}. Its volumes were not touched; ${running} ` +
                (state.recovered ? "was started again and is healthy." : `could not be started again (${rf ?? "?"}): run \`incus start ${news.name}\`.`) +
                ` Free space in pool ${news.pool} (incus storage info ${news.pool}) and run up again.`
              : upgradeFailureMessage(alert, rf);
    const rolledBack = state.failure?.phase !== "stop" && state.failure?.phase !== "snapshot";
    if (rolledBack) {
        await audit(ctx, {
            operation: "rollback",
            color: news.service,
            release: lastGood,
            details: { kind: "upgrade", attempted: news.release, recovered: state.recovered === true },
        });
    }
    const hook = rolledBack ? await runPostRollback(news, { operation: "upgrade", color: news.service, release: lastGood, failedRelease: news.release }) : "";
    // State records what runs now (last_good when recovered), so the next `up` tries the upgrade again.
    const nowRuns = state.recovered ? (state.failure?.phase === "snapshot" || state.failure?.phase === "stop" ? running : lastGood) : news.release;
    throw initFailure(
        message + hook,
        news.name,
        outputsOf(
            { ...news, release: nowRuns },
            { status: state.recovered ? "Running" : "Unknown", healthy: state.recovered === true, lastGood, ...snap },
        ) as unknown as Record<string, unknown>,
    );
}

/** Where a service's events go. */
function auditOfService(i: StatefulInputs): AuditContext {
    return auditTo(i.host, i.stateDir, i.stack, i.broadcast, i.passEnv);
}

/** Restore on demand: the data of snapshot `id` back in every volume, then the configured release, health-gated. */
export async function restoreService(olds: StatefulOutputs, news: StatefulInputs, id: string): Promise<StatefulOutputs> {
    const store = storeOf(news);
    const problem = await restoreCheck(store, id);
    if (problem) throw refused(`${problem}. Nothing was touched: set bluegreen:stateful.${news.service}.restore to the id status --json shows, or remove it.`);
    const meta = (await readSnapshotMeta(store))!;
    if (meta.release !== news.release)
        progress(`${news.service}: snapshot ${id} holds the data of ${meta.release}; it is restored under ${news.release}, as configured`);
    await stopAndWait(news);
    await restoreSnapshot(store, id);
    await audit(auditOfService(news), { operation: "restore", color: news.service, release: news.release, details: { id, of: meta.release } });
    await deployRelease(news, news.release);
    const r = await gate(news, news.release);
    const lastGood = await readLastGood(store);
    const outs = outputsOf(news, { status: "Running", healthy: r.ok, ...(lastGood ? { lastGood } : {}), snapshot: meta, appliedRestore: id });
    if (!r.ok)
        throw initFailure(
            `${news.service}: restored from ${id}, but ${r.message}. The volumes hold the snapshot's data.`,
            news.name,
            outs as unknown as Record<string, unknown>,
        );
    return outs;
}

/** Converges the service on its config: create, upgrade, restore, start, or nothing. */
export async function convergeService(olds: StatefulOutputs, news: StatefulInputs): Promise<StatefulOutputs> {
    const inst = await getInstance(incusTarget(news.remote), news.name);
    const running = inst?.config["user.bluegreen.release"] ?? olds.release;
    const action = decideStateful(
        { ...(inst ? { status: inst.status } : {}), release: running },
        { release: news.release, restore: news.restore, appliedRestore: olds.appliedRestore },
    );
    switch (action.kind) {
        case "create":
            progress(`${news.name}: missing; creating it again on its volumes`);
            return (await createService(news)).outs;
        case "restore":
            return restoreService(olds, news, action.snapshot);
        case "upgrade":
            return upgradeService(olds, news, running);
        case "start":
        case "noop": {
            if (RECREATE_ON.some((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null))) return upgradeService(olds, news, running);
            if (action.kind === "start") {
                progress(`${news.name}: ${inst!.status}; starting it`);
                await runOrThrow(startCmd(incusTarget(news.remote), news.name), `cannot start ${news.name}`);
            }
            const r = await gate(news, news.release);
            const store = storeOf(news);
            const lastGood = await readLastGood(store);
            const outs = outputsOf(news, {
                status: "Running",
                healthy: r.ok,
                ...(lastGood ? { lastGood } : {}),
                ...(await snapshotOf(store)),
                ...(olds.appliedRestore ? { appliedRestore: olds.appliedRestore } : {}),
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

/** Removing the service: the container goes; the volumes, their snapshot and the records stay unless deleteVolumes. */
export async function removeService(id: string, props: StatefulOutputs): Promise<void> {
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
    const store = storeOf(props);
    await pruneSnapshots(store, undefined);
    for (const v of props.volumes) {
        if (await volumeExists(target, props.pool, v.volume))
            await runOrThrow(volumeDeleteCmd(target, props.pool, v.volume), `cannot delete volume ${v.volume}`);
    }
    await removeHostFile(props.host, snapshotMetaPath(props.stateDir, props.service));
    await removeHostFile(props.host, lastGoodPath(props.stateDir, props.service));
    progress(`${props.service}: volumes ${names} and their snapshots deleted (deleteVolumes: true)`);
}

/** Live state for refresh. */
export async function readService(id: string, props: StatefulOutputs): Promise<{ id: string; props?: StatefulOutputs }> {
    const inst = await getInstance(incusTarget(props.remote), id);
    if (!inst) return { id: "" };
    const release = inst.config["user.bluegreen.release"] ?? props.release;
    const healthy = inst.status === "Running" && judge(await probe(statefulHealthUrl(props), props.health.timeoutMs), expectOf(props)).healthy;
    const store = storeOf(props);
    const lastGood = await readLastGood(store);
    const snapshot = await readSnapshotMeta(store);
    const { lastGood: _l, snapshot: _s, ...rest } = props;
    return { id, props: { ...rest, release, status: inst.status, healthy, ...(lastGood ? { lastGood } : {}), ...(snapshot ? { snapshot } : {}) } };
}
