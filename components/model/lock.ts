// The deploy lock's record and the rules that say whether it is held. Pure.
// Kamal's lock never expires, so a cancelled deploy can lock a team out for weeks. Here an
// `up` holds the lock only while the process that took it lives (same machine: its pid) and
// keeps renewing its lease (any machine). A lock taken by hand is held until released.

/** `up`: taken by a run, for its duration. `manual`: `lock acquire`, until `lock release`. */
export type LockKind = "up" | "manual";

export interface LockRecord {
    readonly kind: LockKind;
    /** Who: BLUEGREEN_PERFORMER or the OS user. */
    readonly performer: string;
    readonly stack: string;
    /** When it was taken, UTC ISO 8601. */
    readonly time: string;
    readonly message: string;
    /** The release being deployed, when known. */
    readonly release?: string;
    /** Identifies one holder: a release by anybody else needs --force. */
    readonly token: string;
    /** Where the holder runs (`up` only). */
    readonly hostname?: string;
    readonly pid?: number;
    /** Last renewal, UTC ISO 8601 (`up` only). */
    readonly renewed?: string;
    /** Seconds a renewal is good for (`up` only). */
    readonly leaseSeconds?: number;
    readonly bootId?: string;
    readonly pidNamespace?: string;
    readonly startTime?: string;
}

export function lockPath(stateDir: string): string {
    return `${stateDir}/lock.json`;
}

/** Renewed every LEASE_SECONDS / 4 by the holder; stale a whole lease after the last renewal. */
export const LEASE_SECONDS = 60;

export type LockState =
    | { readonly state: "free" }
    | { readonly state: "held"; readonly record: LockRecord }
    | { readonly state: "stale"; readonly record: LockRecord; readonly why: string };

/** Pure: the record in a lock file; undefined for none. A file that is not a record is held, never ignored. */
export function parseLock(text: string | undefined): LockRecord | undefined {
    if (text === undefined || text.trim() === "") return undefined;
    try {
        const r = JSON.parse(text) as Partial<LockRecord>;
        if ((r.kind === "up" || r.kind === "manual") && typeof r.token === "string" && typeof r.time === "string") return r as LockRecord;
    } catch {
        // fall through
    }
    return { kind: "manual", performer: "unknown", stack: "?", time: "?", message: `unreadable lock file: ${text.slice(0, 200)}`, token: "unreadable" };
}

/**
 * Pure: is the lock held? `alive` answers for a pid on this machine. A manual lock is
 * always held. An `up`'s lock is stale once its lease ran out, or at once when its
 * holder was on this machine and that process is gone.
 */
export function lockState(
    record: LockRecord | undefined,
    now: Date,
    here: { readonly hostname: string; readonly alive: (pid: number) => boolean },
    _leaseRenewed?: string,
): LockState {
    if (!record) return { state: "free" };
    if (record.kind === "manual") return { state: "held", record };
    const renewed = Date.parse(record.renewed ?? record.time);
    const lease = (record.leaseSeconds ?? LEASE_SECONDS) * 1000;
    if (record.hostname === here.hostname && record.pid !== undefined && !here.alive(record.pid)) {
        return { state: "stale", record, why: `its process ${record.pid} on ${record.hostname} is gone` };
    }
    if (!Number.isFinite(renewed) || now.getTime() - renewed > lease) {
        return { state: "stale", record, why: `its lease ran out (last renewed ${record.renewed ?? record.time}, good for ${lease / 1000} s)` };
    }
    return { state: "held", record };
}

/** Pure: who holds it, in one line. */
export function describeHolder(r: LockRecord): string {
    const by = r.kind === "manual" ? "by hand (lock acquire)" : `by an up (pid ${r.pid ?? "?"} on ${r.hostname ?? "?"})`;
    return `${r.performer} since ${r.time}, ${by}${r.release ? `, release ${r.release}` : ""}${r.message ? `: "${r.message}"` : ""}`;
}

/** Pure: the refusal an `up` (or a refresh) meets while someone else holds the lock. */
export function heldRefusal(stack: string, r: LockRecord, lockFile: string): string {
    const free =
        r.kind === "manual"
            ? `Ask them, or run \`npm run local -- lock release --stack ${stack}\` when they are done`
            : `Wait for that run to end (\`up --lock-wait <seconds>\` waits for it), or, if it is gone, \`npm run local -- lock release --force --stack ${stack}\``;
    return `the deploy lock of stack ${stack} is held by ${describeHolder(r)} (${lockFile}). ${free}. Nothing was touched.`;
}
