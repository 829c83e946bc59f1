// A stateful service's guarded upgrade (seed 003: warm snapshot/restore and the reconciler),
// as an explicit state machine, plus its snapshot and alert records. Pure.
//
// A forward data migration makes a version-only rollback unsafe, so an upgrade snapshots
// the stopped service first and a failed one restores the data before redeploying last_good.

import { RELEASE_SHA } from "./naming";

/** What one `up` does to a stateful service, decided from live state and config. */
export type StatefulAction =
    | { readonly kind: "create" }
    | { readonly kind: "noop" }
    /** The container exists with the configured release but is stopped: start it and gate on health. */
    | { readonly kind: "start" }
    | { readonly kind: "upgrade"; readonly from: string; readonly to: string }
    | { readonly kind: "restore"; readonly snapshot: string };

export interface StatefulLive {
    /** Absent: no container. */
    readonly status?: string;
    /** The release its label names. */
    readonly release?: string;
}

export interface StatefulWanted {
    readonly release: string;
    /** The configured restore, and the one already applied (the provider's last inputs). */
    readonly restore?: string;
    readonly appliedRestore?: string;
}

export function decideStateful(live: StatefulLive, wanted: StatefulWanted): StatefulAction {
    if (live.status === undefined) return { kind: "create" };
    // An explicit restore wins: it names data the operator wants back, whatever runs now.
    if (wanted.restore !== undefined && wanted.restore !== wanted.appliedRestore) return { kind: "restore", snapshot: wanted.restore };
    if (live.release !== wanted.release) return { kind: "upgrade", from: live.release ?? "unknown", to: wanted.release };
    if (live.status !== "Running") return { kind: "start" };
    return { kind: "noop" };
}

// ---- The guarded upgrade ----------------------------------------------------------

/**
 * The phases in order. The happy path is stop → snapshot → deploy → health → commit → done;
 * a failed deploy or health gate goes stop-again → restore → redeploy → recovery-health → alert → failed.
 */
export const UPGRADE_PHASES = [
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

/** The release each phase runs: the new one until the recovery, then last_good. */
export function releaseOfPhase(phase: UpgradePhase, attempted: string, lastGood: string): string {
    return phase === "redeploy" || phase === "recovery-health" || phase === "restart" ? lastGood : attempted;
}

// ---- Records ---------------------------------------------------------------------------

/** `kg-<yyyymmdd>t<hhmmss>z-<release>`: sortable by time, names what it holds, a valid Incus snapshot name. */
export function snapshotId(release: string, at: Date): string {
    const iso = at.toISOString(); // 2026-12-03T08:15:00.000Z
    const stamp = `${iso.slice(0, 10).replace(/-/g, "")}t${iso.slice(11, 19).replace(/:/g, "")}z`;
    return `kg-${stamp}-${release}`;
}

export const SNAPSHOT_ID = /^kg-\d{8}t\d{6}z-[0-9a-f]{7,40}$/;

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
        RELEASE_SHA.test(m.release) &&
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
