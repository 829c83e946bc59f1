// A stateful service's guarded upgrade (seed 003: warm snapshot/restore and the reconciler),
// as an explicit state machine, plus its snapshot and alert records. Pure.
//
// A forward data migration makes a version-only rollback unsafe, so an upgrade snapshots
// the stopped service first and a failed one restores the data before redeploying last_good.

import { RELEASE_SHA } from "../naming";

/** What one `up` does to a stateful service, decided from live state and config. */
export type StatefulAction =
    /** No container and no volumes: a first deploy. */
    | { readonly kind: "create" }
    | { readonly kind: "noop" }
    /** The container exists with the configured release and config but is stopped: start it and gate on health. */
    | { readonly kind: "start" }
    /** A guarded upgrade; `from` is the release whose data the volumes hold, absent when nothing says. */
    | { readonly kind: "upgrade"; readonly from?: string; readonly to: string }
    | { readonly kind: "restore"; readonly snapshot: string }
    /** An upgrade record is on the host: a run was killed, or its recovery failed. */
    | { readonly kind: "resume"; readonly record: UpgradeRecord };

export interface StatefulLive {
    /** Absent: no container. */
    readonly status?: string;
    /** The release its label names. */
    readonly release?: string;
    /** Whether the container is what config asks for, release aside (env, ports, volumes, image); default true. */
    readonly matches?: boolean;
    /** Whether any of its volumes exists: data that may be live. */
    readonly volumes?: boolean;
    /** The host's last_good. */
    readonly lastGood?: string;
    /** The host's upgrade record. */
    readonly upgrade?: UpgradeRecord;
    /** The restore the host recorded as applied. */
    readonly appliedRestore?: string;
}

export interface StatefulWanted {
    readonly release: string;
    /** The configured restore, and the one already applied (the provider's last outputs). */
    readonly restore?: string;
    readonly appliedRestore?: string;
}

/**
 * The create path and the update path decide alike: an `up` from an empty state sees the same
 * live world as one from the real state, and never deploys straight over volumes.
 */
export function decideStateful(live: StatefulLive, wanted: StatefulWanted): StatefulAction {
    // An explicit restore wins, once: it names data the operator wants back. Without volumes there is nothing to put it in.
    const data = live.volumes === true || live.status !== undefined;
    const restore = wanted.restore;
    if (data && restore !== undefined && restore !== live.appliedRestore && restore !== wanted.appliedRestore) return { kind: "restore", snapshot: restore };
    if (live.upgrade) return { kind: "resume", record: live.upgrade };
    if (live.status === undefined) {
        if (!data) return { kind: "create" };
        return { kind: "upgrade", ...(live.lastGood ? { from: live.lastGood } : {}), to: wanted.release };
    }
    const from = live.release ?? live.lastGood;
    if (live.release !== wanted.release || live.matches === false) return { kind: "upgrade", ...(from ? { from } : {}), to: wanted.release };
    if (live.status !== "Running") return { kind: "start" };
    return { kind: "noop" };
}

// ---- The guarded upgrade ----------------------------------------------------------

/**
 * The phases in order. The happy path is stop → snapshot → deploy → health → commit → done;
 * a failed deploy or health gate goes stop-again → restore → redeploy → recovery-health → alert → failed.
 * A resumed upgrade whose new release may have run starts at reset-stop → reset (the
 * pre-upgrade snapshot back in the volumes) → deploy.
 */
export const UPGRADE_PHASES = [
    "reset-stop",
    "reset",
    "stop",
    "snapshot",
    "deploy",
    "health",
    "commit",
    "done",
    "restart",
    "rollback-stop",
    "restore",
    "redeploy",
    "recovery-health",
    "alert",
    "failed",
] as const;
export type UpgradePhase = (typeof UPGRADE_PHASES)[number];

export interface UpgradeState {
    readonly phase: UpgradePhase;
    /** The first failure: what the step's error reports. */
    readonly failure?: { readonly phase: UpgradePhase; readonly message: string };
    /** Set once the recovery ends: whether last_good serves again. */
    readonly recovered?: boolean;
    /** The recovery step that failed, when one did. */
    readonly recoveryFailure?: { readonly phase: UpgradePhase; readonly message: string };
}

export type StepResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

const HAPPY: Partial<Record<UpgradePhase, UpgradePhase>> = {
    "reset-stop": "reset",
    reset: "deploy",
    stop: "snapshot",
    snapshot: "deploy",
    deploy: "health",
    health: "commit",
    commit: "done",
    "rollback-stop": "restore",
    restore: "redeploy",
    redeploy: "recovery-health",
    "recovery-health": "alert",
    restart: "failed",
    alert: "failed",
};

export const UPGRADE_START: UpgradeState = { phase: "stop" };

export function isFinal(state: UpgradeState): boolean {
    return state.phase === "done" || state.phase === "failed";
}

/** One transition. A terminal state stays where it is. */
export function advance(state: UpgradeState, result: StepResult): UpgradeState {
    const { phase } = state;
    if (isFinal(state)) return state;
    if (result.ok) {
        const next = HAPPY[phase]!;
        const recovered = phase === "recovery-health" || phase === "restart" ? { recovered: true } : {};
        return { ...state, phase: next, ...recovered };
    }
    const failure = state.failure ?? { phase, message: result.message };
    switch (phase) {
        // Nothing changed yet, or the volumes are untouched: no restore needed.
        case "stop":
            return { phase: "failed", failure, recovered: true };
        case "snapshot":
            return { phase: "restart", failure };
        // The new release ran against the data: it may have migrated it.
        case "deploy":
        case "health":
        case "commit":
            return { phase: "rollback-stop", failure };
        case "restart":
            return { phase: "failed", failure, recovered: false, recoveryFailure: { phase, message: result.message } };
        // The data may be the new release's: not recovered, and the upgrade record stays for the next run.
        case "reset-stop":
        case "reset":
            return { phase: "failed", failure, recovered: false };
        // A failed recovery step skips the rest and is reported as not recovered.
        case "rollback-stop":
        case "restore":
        case "redeploy":
        case "recovery-health":
            return { phase: "alert", failure, recovered: false, recoveryFailure: { phase, message: result.message } };
        case "alert":
            // The alert file could not be written; the step fails all the same.
            return { ...state, phase: "failed" };
    }
    return state;
}

/** The release each phase runs (or, for a reset, whose data it restores): the new one until the recovery, then last_good. */
export function releaseOfPhase(phase: UpgradePhase, attempted: string, lastGood: string): string {
    return phase === "redeploy" || phase === "recovery-health" || phase === "restart" || phase === "reset-stop" || phase === "reset" ? lastGood : attempted;
}

// ---- The upgrade record: what a killed upgrade resumes from ----------------------------

/**
 * Written on the host before the service is stopped, removed once the upgrade is done or
 * recovered. The attempted release runs only after `snapshot` is in it, so a record without
 * one means the volumes still hold `from`'s data.
 */
export interface UpgradeRecord {
    readonly service: string;
    readonly attempted: string;
    /** The release whose data the volumes held at the start; absent when nothing said. */
    readonly from?: string;
    /** What a recovery redeploys; absent when no release is known good. */
    readonly lastGood?: string;
    /** The pre-upgrade snapshot, once every volume has it. */
    readonly snapshot?: string;
    /** Set when a recovery began: the failure that started it. */
    readonly failure?: { readonly phase: UpgradePhase; readonly message: string };
    /** UTC ISO 8601, when the upgrade began. */
    readonly time: string;
}

/**
 * Where a recorded upgrade goes on. Data the attempted release may have touched is never
 * snapshotted: it goes back to the pre-upgrade snapshot first.
 */
export function resumeState(record: UpgradeRecord, live: Pick<StatefulLive, "status" | "release">, wanted: string): UpgradeState {
    // The attempted release never ran: start again, a snapshot included.
    if (!record.snapshot) return UPGRADE_START;
    // Another release is wanted now: the data back to the snapshot, then that one, under guard.
    if (record.attempted !== wanted) return { phase: "reset-stop" };
    if (record.failure) return { phase: "rollback-stop", failure: record.failure };
    // Killed in the health wait (or at the commit): wait for health again.
    if (live.status === "Running" && live.release === record.attempted) return { phase: "health" };
    // Killed in the deploy: the container is gone or half made, the data maybe half migrated.
    return { phase: "reset-stop" };
}

/** A record read back; a malformed one is refused by the caller (fail closed), never ignored. */
export function parseUpgradeRecord(text: string | undefined): UpgradeRecord | undefined {
    if (!text?.trim()) return undefined;
    let v: unknown;
    try {
        v = JSON.parse(text);
    } catch {
        throw new Error("the upgrade record is not JSON");
    }
    const m = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
    const sha = (x: unknown) => x === undefined || (typeof x === "string" && RELEASE_SHA.test(x));
    const failure = m.failure as Record<string, unknown> | undefined;
    const ok =
        typeof m.service === "string" &&
        typeof m.attempted === "string" &&
        RELEASE_SHA.test(m.attempted) &&
        sha(m.from) &&
        sha(m.lastGood) &&
        (m.snapshot === undefined || (typeof m.snapshot === "string" && SNAPSHOT_ID.test(m.snapshot))) &&
        (failure === undefined ||
            (typeof failure === "object" && (UPGRADE_PHASES as readonly unknown[]).includes(failure.phase) && typeof failure.message === "string")) &&
        typeof m.time === "string";
    if (!ok) throw new Error(`the upgrade record is malformed: ${text.slice(0, 200)}`);
    return m as unknown as UpgradeRecord;
}

// ---- Records ---------------------------------------------------------------------------

/** A snapshot of volumes no record names a release for (found by an `up` from an empty state). */
export const UNKNOWN_RELEASE = "unknown";

/** `kg-<yyyymmdd>t<hhmmss>z-<release>`: sortable by time, names what it holds, a valid Incus snapshot name. */
export function snapshotId(release: string, at: Date): string {
    const iso = at.toISOString(); // 2026-12-03T08:15:00.000Z
    const stamp = `${iso.slice(0, 10).replace(/-/g, "")}t${iso.slice(11, 19).replace(/:/g, "")}z`;
    return `kg-${stamp}-${release}`;
}

export const SNAPSHOT_ID = /^kg-\d{8}t\d{6}z-(?:[0-9a-f]{7,40}|unknown)$/;

/** The known-good snapshot's metadata, the commit point of a snapshot: written only once every volume has it. */
export interface SnapshotMeta {
    readonly id: string;
    readonly service: string;
    /** The release whose data it holds. */
    readonly release: string;
    /** Volume names (config keys), sorted. */
    readonly volumes: readonly string[];
    /** UTC ISO 8601. */
    readonly time: string;
}

export function snapshotMeta(service: string, release: string, volumes: readonly string[], at: Date): SnapshotMeta {
    return { id: snapshotId(release, at), service, release, volumes: [...volumes].sort(), time: at.toISOString() };
}

/** A record read back; anything malformed is absent (and so never restored from). */
export function parseSnapshotMeta(text: string | undefined): SnapshotMeta | undefined {
    if (!text) return undefined;
    let v: unknown;
    try {
        v = JSON.parse(text);
    } catch {
        return undefined;
    }
    if (typeof v !== "object" || v === null) return undefined;
    const m = v as Record<string, unknown>;
    const ok =
        typeof m.id === "string" &&
        SNAPSHOT_ID.test(m.id) &&
        typeof m.service === "string" &&
        typeof m.release === "string" &&
        (RELEASE_SHA.test(m.release) || m.release === UNKNOWN_RELEASE) &&
        Array.isArray(m.volumes) &&
        m.volumes.every((x) => typeof x === "string") &&
        typeof m.time === "string" &&
        !Number.isNaN(Date.parse(m.time));
    if (!ok) return undefined;
    return {
        id: m.id as string,
        service: m.service as string,
        release: m.release as string,
        volumes: [...(m.volumes as string[])].sort(),
        time: m.time as string,
    };
}

/** The `last_good` file: one release SHA, kept apart from the snapshot so replacing one never clobbers the other. */
export function parseLastGood(text: string | undefined): string | undefined {
    const t = text?.trim();
    return t && RELEASE_SHA.test(t) ? t : undefined;
}

/** Why a snapshot cannot be restored into the service as configured now; undefined when it can. */
export function restoreProblem(
    service: string,
    id: string,
    meta: SnapshotMeta | undefined,
    volumes: readonly string[],
    present: ReadonlySet<string>,
): string | undefined {
    if (!meta || meta.id !== id) {
        return `stateful ${service}: no snapshot ${id}${meta ? ` (the known-good snapshot is ${meta.id}, of release ${meta.release})` : " (it has none yet)"}`;
    }
    const want = [...volumes].sort();
    if (want.join(",") !== meta.volumes.join(",")) {
        return `stateful ${service}: snapshot ${id} holds volumes [${meta.volumes.join(", ")}], but the service has [${want.join(", ")}]; restoring it would leave volumes out of step`;
    }
    const missing = want.filter((v) => !present.has(v));
    if (missing.length) return `stateful ${service}: snapshot ${id} is missing on volume${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`;
    return undefined;
}

/** One line of the alerts file, the seed's rollback alert. */
export interface RollbackAlert {
    readonly service: string;
    readonly attempted: string;
    readonly last_good: string;
    readonly recovered: boolean;
    /** UTC ISO 8601. */
    readonly time: string;
    /** The failure that started the rollback. */
    readonly reason: string;
    readonly snapshot?: string;
}

export function rollbackAlert(
    service: string,
    attempted: string,
    lastGood: string,
    state: UpgradeState,
    snapshot: string | undefined,
    at: Date,
): RollbackAlert {
    return {
        service,
        attempted,
        last_good: lastGood,
        recovered: state.recovered === true,
        time: at.toISOString(),
        reason: state.failure ? `${state.failure.phase}: ${state.failure.message}` : "unknown",
        ...(snapshot ? { snapshot } : {}),
    };
}

/** The failed step's message: what failed, what the recovery did, and what to do next. */
export function upgradeFailureMessage(alert: RollbackAlert, recoveryFailure?: string): string {
    const head = `guarded upgrade of ${alert.service} to ${alert.attempted} failed (${alert.reason})`;
    if (alert.recovered) {
        return (
            `${head}. Its data was restored from snapshot ${alert.snapshot ?? "?"} and ${alert.last_good} (last_good, unchanged) serves again, healthy; ` +
            `a rollback alert was appended. Fix the release and publish a new one, or set bluegreen:stateful.${alert.service}.release: ${alert.last_good} to stay.`
        );
    }
    return (
        `${head}, AND THE RECOVERY FAILED${recoveryFailure ? ` (${recoveryFailure})` : ""}: ${alert.service} may be down. ` +
        `last_good is still ${alert.last_good} and its snapshot ${alert.snapshot ?? "(none)"} is kept. ` +
        `Set bluegreen:stateful.${alert.service}.release: ${alert.last_good} and bluegreen:stateful.${alert.service}.restore: ${alert.snapshot ?? "<snapshot id>"}, then run up again.`
    );
}
