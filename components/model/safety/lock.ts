// The deploy lock's record and the rules that say whether it is held. Pure.
// Kamal's lock never expires, so a cancelled deploy can lock a team out for weeks. Here an
// `up` holds the lock only while the process that took it lives and keeps renewing its lease.
// Its pid is only evidence where it means the same process: the same machine, boot and pid
// namespace (a CI container shares the hostname, not the pids), and the same start time (a
// reused pid is another process). Anywhere else, only the lease decides. A lock taken by hand
// is held until released.

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
    /** The holder's /proc/sys/kernel/random/boot_id (`up` only). */
    readonly bootId?: string;
    /** The holder's pid namespace, `readlink /proc/self/ns/pid` (`up` only). */
    readonly pidNamespace?: string;
    /** The holder's start time, field 22 of /proc/<pid>/stat (`up` only). */
    readonly startTime?: string;
}

/** Where a process runs, and what it can tell of a pid there. */
export interface ProcessSpace {
    readonly hostname: string;
    readonly bootId?: string;
    readonly pidNamespace?: string;
    /** The start time of a live (not zombie) process with this pid here; undefined when none. */
    readonly startTime: (pid: number) => string | undefined;
}

export function lockPath(stateDir: string): string {
    return `${stateDir}/lock.json`;
}

/**
 * The holder's lease, renewed in a file of its own (the time, UTC ISO 8601): a renewal never
 * writes lock.json, so it can never overwrite the lock another run took over.
 */
export function leasePath(stateDir: string, token: string): string {
    return `${stateDir}/lock.json.lease-${token}`;
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

/** Pure: whether the holder's pid means the same process here: same machine, boot and pid namespace. */
function samePidSpace(r: LockRecord, here: ProcessSpace): boolean {
    return (
        r.pid !== undefined &&
        r.startTime !== undefined &&
        r.hostname === here.hostname &&
        r.bootId !== undefined &&
        r.bootId === here.bootId &&
        r.pidNamespace !== undefined &&
        r.pidNamespace === here.pidNamespace
    );
}

/**
 * Pure: is the lock held? A manual lock always is. An `up`'s lock is stale once its lease ran
 * out (`leaseRenewed`, from its lease file, or the record's own time), or at once when its pid
 * means the same process here and no process with that pid and start time lives.
 */
export function lockState(record: LockRecord | undefined, now: Date, here: ProcessSpace, leaseRenewed?: string): LockState {
    if (!record) return { state: "free" };
    if (record.kind === "manual") return { state: "held", record };
    const last = [leaseRenewed, record.renewed, record.time].map((t) => (t === undefined ? NaN : Date.parse(t))).filter(Number.isFinite);
    const renewed = last.length > 0 ? Math.max(...last) : NaN;
    const lease = (record.leaseSeconds ?? LEASE_SECONDS) * 1000;
    if (samePidSpace(record, here) && here.startTime(record.pid!) !== record.startTime) {
        return { state: "stale", record, why: `its process ${record.pid} on ${record.hostname} is gone` };
    }
    if (!Number.isFinite(renewed) || now.getTime() - renewed > lease) {
        const at = Number.isFinite(renewed) ? new Date(renewed).toISOString() : (record.renewed ?? record.time);
        return { state: "stale", record, why: `its lease ran out (last renewed ${at}, good for ${lease / 1000} s)` };
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
