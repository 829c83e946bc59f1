// The deploy lock (seed 004: Kamal's lock): <stateDir>/lock.json on the HAProxy host, so two
// operators, or CI and an operator, cannot change one stack at once whatever their checkouts
// or state backends. An `up` takes it through the DeployLock resource, which everything else
// depends on, and frees it through DeployUnlock, which depends on everything; a destroy takes
// it in its deletes. Its process renews the lease while it holds it (model/safety/lock.ts says when
// it is stale).
//
// No read-then-write races: the file is created with link(2), which fails if it exists; it is
// broken or removed by renaming it to a name of this run's own (only one run can move it) and
// checking what was moved; the lease is renewed in a file of the holder's own, never lock.json.

import * as crypto from "crypto";
import {
    HaproxyHost,
    createHostFileExclusive,
    describeHost,
    hostPathExists,
    hostState,
    linkHostFileExclusive,
    moveHostFile,
    readHostFile,
    removeHostFile,
    writeHostFile,
} from "../../io/haproxyHost";
import { sleep } from "../../io/poll";
import { processStartTime, thisProcessSpace } from "../../io/proc";
import { progress } from "../../io/progress";
import { refused } from "../../model/errors";
import {
    LEASE_SECONDS,
    LockKind,
    LockRecord,
    LockState,
    describeHolder,
    heldRefusal,
    leasePath,
    lockPath,
    lockState,
    parseLock,
} from "../../model/safety/lock";
import { AuditContext, audit, performer } from "./audit";

export type LockTarget = AuditContext;

/** The lease an up's record names, from its own file. */
async function leaseOf(host: HaproxyHost, stateDir: string, r: LockRecord | undefined): Promise<string | undefined> {
    if (r?.kind !== "up") return undefined;
    return (await readHostFile(host, leasePath(stateDir, r.token)))?.trim() || undefined;
}

/** The lock as it stands now. */
export async function readLockState(t: Pick<LockTarget, "host" | "stateDir">): Promise<LockState> {
    const record = parseLock(await readHostFile(t.host, lockPath(t.stateDir)));
    return lockState(record, new Date(), thisProcessSpace(), await leaseOf(t.host, t.stateDir, record));
}

/** A name beside the lock file that no other run uses. */
function aside(file: string, why: string): string {
    return `${file}.${why}-${crypto.randomBytes(6).toString("hex")}`;
}

/**
 * Takes lock.json away if it holds `token`'s record and `keep` does not want it back: moved
 * aside (atomic: one run only), checked, then removed with its lease, or put back (linked:
 * never over a lock taken meanwhile). Returns the record it removed; undefined when it did not.
 */
async function takeAway(t: Pick<LockTarget, "host" | "stateDir">, token: string, keep: (moved: LockRecord | undefined) => Promise<boolean>) {
    const file = lockPath(t.stateDir);
    const moved = aside(file, "taken");
    if (!(await moveHostFile(t.host, file, moved))) return undefined;
    const record = parseLock(await readHostFile(t.host, moved));
    if (record?.token === token && !(await keep(record))) {
        await removeHostFile(t.host, moved);
        await removeHostFile(t.host, leasePath(t.stateDir, token));
        return record;
    }
    const back = await linkHostFileExclusive(t.host, moved, file);
    await removeHostFile(t.host, moved);
    if (!back) {
        progress(
            `lock: ${record ? describeHolder(record) : "a lock"} was moved aside while it was checked, and another run took the lock meanwhile; ` +
                `its holder stops at its next renewal`,
        );
    }
    return undefined;
}

/** Breaks a stale lock: only the very record judged stale, and only if it still is (not renewed meanwhile). */
async function breakStale(t: LockTarget, stale: LockRecord, why: string): Promise<void> {
    const broken = await takeAway(
        t,
        stale.token,
        async (r) => lockState(r, new Date(), thisProcessSpace(), await leaseOf(t.host, t.stateDir, r)).state !== "stale",
    );
    if (!broken) return;
    progress(`lock: broke the stale deploy lock of ${describeHolder(stale)}: ${why}`);
    await audit(t, { operation: "lock", details: { action: "break", holder: stale.performer, why } });
}

export interface AcquireOptions {
    readonly kind: LockKind;
    readonly message: string;
    readonly release?: string;
    /** Wait this long for a held lock, saying who holds it; 0 refuses at once. */
    readonly waitSeconds: number;
}

/** Takes the lock, breaking a stale one; refuses (after waiting, if asked) while someone holds it. */
export async function acquireLock(t: LockTarget, o: AcquireOptions): Promise<LockRecord> {
    const file = lockPath(t.stateDir);
    const deadline = Date.now() + o.waitSeconds * 1000;
    let said = 0;
    // Bounded: each pass either takes the lock, breaks a stale one, or sleeps a second until the deadline.
    for (let pass = 0; pass < o.waitSeconds + 20; pass++) {
        const now = new Date().toISOString();
        const here = thisProcessSpace();
        const record: LockRecord = {
            kind: o.kind,
            performer: performer(),
            stack: t.stack,
            time: now,
            message: o.message,
            ...(o.release ? { release: o.release } : {}),
            token: crypto.randomBytes(8).toString("hex"),
            ...(o.kind === "up"
                ? {
                      hostname: here.hostname,
                      pid: process.pid,
                      renewed: now,
                      leaseSeconds: LEASE_SECONDS,
                      ...(here.bootId ? { bootId: here.bootId } : {}),
                      ...(here.pidNamespace ? { pidNamespace: here.pidNamespace } : {}),
                      ...(processStartTime(process.pid) ? { startTime: processStartTime(process.pid) } : {}),
                  }
                : {}),
        };
        if (await createHostFileExclusive(t.host, file, JSON.stringify(record, null, 2) + "\n")) {
            await audit(t, {
                operation: "lock",
                ...(o.release ? { release: o.release } : {}),
                details: { action: "acquire", kind: o.kind, message: o.message },
            });
            return record;
        }
        const st = await readLockState(t);
        if (st.state === "free") continue;
        if (st.state === "stale") {
            progress(`lock: breaking the stale deploy lock of ${describeHolder(st.record)}: ${st.why}`);
            await breakStale(t, st.record, st.why);
            continue;
        }
        if (Date.now() >= deadline) throw refused(heldRefusal(t.stack, st.record, `${file} on ${describeHost(t.host)}`));
        if (Date.now() - said >= 5000) {
            progress(`lock: held by ${describeHolder(st.record)}; waiting, ${Math.ceil((deadline - Date.now()) / 1000)} s left`);
            said = Date.now();
        }
        await sleep(1000);
    }
    throw new Error(`lock: could not take ${file} on ${describeHost(t.host)}; it keeps changing hands. Run the command again.`);
}

/** One renewal: false when lock.json no longer holds this record; else its own lease file is renewed. Never writes lock.json. */
export async function renewLease(t: Pick<LockTarget, "host" | "stateDir">, record: LockRecord): Promise<boolean> {
    if (parseLock(await readHostFile(t.host, lockPath(t.stateDir)))?.token !== record.token) return false;
    await writeHostFile(t.host, leasePath(t.stateDir, record.token), new Date().toISOString() + "\n");
    return true;
}

/**
 * Frees the lock. Without `force` only a lock taken by hand, or by `token`'s holder; a
 * running `up`'s lock, or a stale one, needs `force`.
 */
export async function releaseLock(t: LockTarget, o: { readonly force: boolean; readonly token?: string }): Promise<LockState> {
    const st = await readLockState(t);
    if (st.state === "free") return st;
    const r = st.record;
    const mine = o.token !== undefined && r.token === o.token;
    if (!o.force && !mine && r.kind === "up") {
        throw refused(
            st.state === "stale"
                ? `the deploy lock of stack ${t.stack} was left by an up that ended without freeing it (${st.why}): ${describeHolder(r)}. ` +
                      `Run \`lock release --force --stack ${t.stack}\` to clear it (the next up would also take it over). Nothing was changed.`
                : `the deploy lock of stack ${t.stack} is held by a running up: ${describeHolder(r)}. ` +
                      `Wait for it, or if you know it is gone, \`lock release --force --stack ${t.stack}\`. Nothing was changed.`,
        );
    }
    if (await takeAway(t, r.token, async () => false)) {
        await audit(t, { operation: "lock", details: { action: o.force ? "force-release" : "release", holder: r.performer, kind: r.kind } });
    }
    return st;
}

// What this process holds, shared by every provider in it: the dynamic-provider host loads each
// provider's serialized text apart, so module state is not shared; globalThis is.

interface Holding {
    readonly target: LockTarget;
    readonly record: LockRecord;
    timer?: NodeJS.Timeout;
    /** Deletes in flight that need it. */
    users: number;
    /** Kept to the end of the run (an up's DeployLock, a destroy); else only while `users` > 0. */
    whole: boolean;
    /** Another run took it over: the file is theirs now. */
    lost?: boolean;
}

interface Holdings {
    held: Record<string, Holding | undefined>;
    taking: Record<string, Promise<Holding | undefined> | undefined>;
    freeing: Record<string, Promise<void> | undefined>;
    /** This process's up freed the lock (DeployUnlock): later deletes hold it only while they run. */
    finished: Record<string, boolean | undefined>;
    /** Why this process lost a lock it held: every later step refuses. */
    lost?: string;
}

function holdings(): Holdings {
    const g = globalThis as { bluegreenDeployLock?: Holdings };
    return (g.bluegreenDeployLock ??= { held: {}, taking: {}, freeing: {}, finished: {} });
}

function keyOf(t: Pick<LockTarget, "host" | "stateDir">): string {
    return `${describeHost(t.host)}:${t.stateDir}`;
}

/** Pure: the instance as `incus start` takes it. */
function instanceRef(host: HaproxyHost): string {
    return host.placement === "incus" ? `${host.remote ? `${host.remote}:` : ""}${host.instance}` : "";
}

/** Pure: the refusal when the instance that keeps the lock exists but does not run. */
export function stoppedRefusal(t: Pick<LockTarget, "host" | "stateDir" | "stack">, state: string): string {
    return (
        `the deploy lock of stack ${t.stack} lives on ${describeHost(t.host)} (${lockPath(t.stateDir)}), which is ${state}, so it cannot be taken: ` +
        `nothing was touched. Start it with \`incus start ${instanceRef(t.host)}\` and run the command again.`
    );
}

/** Pure: the refusal for every step after this process lost its lock. */
export function lostRefusal(stack: string, why: string): string {
    return (
        `this run lost the deploy lock of stack ${stack}: ${why}. It stopped before this step (steps already done stay done). ` +
        `See who holds it with \`npm run local -- lock status --stack ${stack}\`, and run pulumi up again once they are done.`
    );
}

/** Throws once this process lost a lock it held: every provider asks before each step (providers/lock.ts lockGuarded). */
export function assertDeployLockKept(): void {
    const lost = holdings().lost;
    if (lost !== undefined) throw refused(lost);
}

async function renew(h: Holding): Promise<void> {
    const t = h.target;
    if (await renewLease(t, h.record)) return;
    // A run breaking a stale lock may have it aside for a moment, and puts it back at once.
    await sleep(1000);
    if (parseLock(await readHostFile(t.host, lockPath(t.stateDir)))?.token === h.record.token) return;
    const reg = holdings();
    if (reg.held[keyOf(t)] !== h) return; // freed meanwhile
    if (!(await hostPathExists(t.host, t.stateDir))) {
        // Its directory went with the stack (a destroy): nothing left to renew, nobody took it.
        clearInterval(h.timer);
        return;
    }
    const now = await readLockState(t).catch(() => undefined);
    const why =
        now === undefined || now.state === "free"
            ? `${lockPath(t.stateDir)} on ${describeHost(t.host)} was removed (\`lock release --force\`?)`
            : `${lockPath(t.stateDir)} on ${describeHost(t.host)} now holds the lock of ${describeHolder(now.record)}`;
    reg.lost = lostRefusal(t.stack, why);
    h.lost = true;
    clearInterval(h.timer);
    reg.held[keyOf(t)] = undefined;
    await removeHostFile(t.host, leasePath(t.stateDir, h.record.token)).catch(() => undefined);
    progress(`lock: ${reg.lost}`);
}

/** Renews what this process holds for `t` now (the timer does every LEASE_SECONDS / 4). */
export async function renewHeld(t: Pick<LockTarget, "host" | "stateDir">): Promise<void> {
    const h = holdings().held[keyOf(t)];
    if (h) await renew(h);
}

export interface HoldOptions {
    readonly message: string;
    readonly release?: string;
    readonly waitSeconds: number;
}

/**
 * Takes the stack's lock for this process, once, and keeps renewing it. Refuses when the
 * instance that keeps it exists but does not run. undefined when there is nowhere to keep it
 * yet (the first up on incus placement, before the haproxy step creates the instance).
 */
async function hold(t: LockTarget, o: HoldOptions, whole: boolean, use: boolean): Promise<Holding | undefined> {
    assertDeployLockKept();
    const reg = holdings();
    const key = keyOf(t);
    // Synchronous up to here: two steps of this process never both start taking it.
    const have = reg.held[key];
    if (have) {
        have.whole ||= whole;
        if (use) have.users++; // before any await: a delete ending meanwhile must not free it
        return have;
    }
    const busy = reg.taking[key] ?? reg.freeing[key];
    if (busy) {
        await busy.catch(() => undefined); // a failed take is that step's refusal; this one tries again
        return hold(t, o, whole, use);
    }
    const taking = (async (): Promise<Holding | undefined> => {
        const state = await hostState(t.host);
        if (state === "absent") {
            progress(`lock: ${describeHost(t.host)} does not exist (yet): there is nowhere to keep the deploy lock, so this step runs without it`);
            return undefined;
        }
        if (state !== "Running") throw refused(stoppedRefusal(t, state));
        const record = await acquireLock(t, { kind: "up", ...o });
        const h: Holding = { target: t, record, users: use ? 1 : 0, whole };
        h.timer = setInterval(() => void renew(h).catch((e: Error) => progress(`lock: could not renew the lease: ${e.message}`)), (LEASE_SECONDS * 1000) / 4);
        h.timer.unref(); // never keeps a process alive
        reg.held[key] = h;
        progress(`lock: stack ${t.stack} is locked for this run (${lockPath(t.stateDir)})`);
        return h;
    })();
    reg.taking[key] = taking;
    try {
        return await taking;
    } finally {
        reg.taking[key] = undefined;
    }
}

/** An up's lock (DeployLock): taken before any other step, kept until finishDeployLock. */
export async function holdDeployLock(t: LockTarget, o: HoldOptions): Promise<void> {
    await hold(t, o, true, false);
}

/**
 * Runs a delete under the lock. In a destroy the lock is then kept to its end (the
 * DeployLock's delete, last, frees it); after this process's up freed it (a resource that
 * left the program is deleted after every other step), only while the delete runs.
 */
export async function withDeployLock<T>(t: LockTarget, o: HoldOptions, fn: () => Promise<T>): Promise<T> {
    const h = await hold(t, o, !holdings().finished[keyOf(t)], true);
    if (!h) return fn();
    try {
        return await fn();
    } finally {
        h.users--;
        if (!h.whole && h.users === 0) await free(h);
    }
}

async function free(h: Holding): Promise<void> {
    const t = h.target;
    const reg = holdings();
    const key = keyOf(t);
    clearInterval(h.timer);
    if (reg.held[key] === h) reg.held[key] = undefined;
    const freeing = (async () => {
        try {
            // A destroy may have deleted the instance that kept it; a lost lock is another run's now.
            if (h.lost || (await hostState(t.host)) !== "Running") return;
            if (parseLock(await readHostFile(t.host, lockPath(t.stateDir)))?.token !== h.record.token) return;
            if (await takeAway(t, h.record.token, async () => false)) {
                await audit(t, { operation: "lock", details: { action: "release", holder: h.record.performer, kind: "up" } });
                progress(`lock: stack ${t.stack} is unlocked`);
            }
        } catch (e) {
            progress(`lock: could not free the deploy lock: ${(e as Error).message}; the next up takes it over once this process ended`);
        }
    })();
    // Until it is gone, a step of this process that needs the lock waits, rather than meet its own lock.
    reg.freeing[key] = freeing;
    await freeing;
    if (reg.freeing[key] === freeing) reg.freeing[key] = undefined;
}

/**
 * The end of a successful up (DeployUnlock) or of a destroy (DeployLock's delete): frees what
 * this process holds. With `orTake` (a destroy's last delete), a lock this process never took
 * is taken first, so a destroy with nothing else to delete still meets a held lock.
 */
export async function finishDeployLock(t: LockTarget, orTake?: HoldOptions): Promise<void> {
    const reg = holdings();
    const key = keyOf(t);
    if (orTake && !reg.held[key] && !reg.taking[key] && reg.lost === undefined) await hold(t, orTake, true, false);
    reg.finished[key] = true;
    const h = reg.held[key] ?? (await reg.taking[key]?.catch(() => undefined));
    if (!h) return;
    h.whole = false;
    if (h.users === 0) await free(h);
}
