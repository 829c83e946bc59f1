// The deploy lock (seed 004: Kamal's lock): <stateDir>/lock.json on the HAProxy host, so two
// operators, or CI and an operator, cannot change one stack at once whatever their checkouts
// or state backends. An `up` takes it through the Lock resource, which everything else
// depends on; its process renews the lease while it lives (model/lock.ts says when it is stale).

import * as crypto from "crypto";
import * as os from "os";
import { processAlive } from "../io/exec";
import { HaproxyHost, createHostFileExclusive, describeHost, readHostFile, removeHostFile, writeHostFile } from "../io/haproxyHost";
import { sleep } from "../io/poll";
import { progress } from "../io/progress";
import { refused } from "../model/errors";
import { LEASE_SECONDS, LockKind, LockRecord, LockState, describeHolder, heldRefusal, lockPath, lockState, parseLock } from "../model/lock";
import { AuditContext, audit, performer } from "./audit";

const HERE = { hostname: os.hostname(), alive: processAlive };

export type LockTarget = AuditContext;

/** The lock as it stands now. */
export async function readLockState(t: Pick<LockTarget, "host" | "stateDir">): Promise<LockState> {
    return lockState(parseLock(await readHostFile(t.host, lockPath(t.stateDir))), new Date(), HERE);
}

/** Removes the lock file only if it still holds `token`'s record (a tiny read-then-remove window remains). */
async function removeIfStill(host: HaproxyHost, file: string, token: string): Promise<boolean> {
    const now = parseLock(await readHostFile(host, file));
    if (now?.token !== token) return false;
    await removeHostFile(host, file);
    return true;
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
        const record: LockRecord = {
            kind: o.kind,
            performer: performer(),
            stack: t.stack,
            time: now,
            message: o.message,
            ...(o.release ? { release: o.release } : {}),
            token: crypto.randomBytes(8).toString("hex"),
            ...(o.kind === "up" ? { hostname: HERE.hostname, pid: process.pid, renewed: now, leaseSeconds: LEASE_SECONDS } : {}),
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
            if (await removeIfStill(t.host, file, st.record.token)) {
                await audit(t, { operation: "lock", details: { action: "break", holder: st.record.performer, why: st.why } });
            }
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

/** One renewal; false when the file no longer holds this record. */
export async function renewLease(t: Pick<LockTarget, "host" | "stateDir">, record: LockRecord): Promise<boolean> {
    const file = lockPath(t.stateDir);
    const now = parseLock(await readHostFile(t.host, file));
    if (now?.token !== record.token) return false;
    await writeHostFile(t.host, file, JSON.stringify({ ...now, renewed: new Date().toISOString() }, null, 2) + "\n");
    return true;
}

/**
 * Renews the lease while this process lives: a quarter of the lease apart, only while the
 * file still holds this record. Unref'd, so it never keeps a process alive.
 */
export function keepRenewing(t: LockTarget, record: LockRecord): void {
    const timer = setInterval(
        () => {
            void (async () => {
                if (!(await renewLease(t, record))) clearInterval(timer);
            })().catch((e: Error) => progress(`lock: could not renew the lease: ${e.message}`));
        },
        (LEASE_SECONDS * 1000) / 4,
    );
    timer.unref();
}

/**
 * Frees the lock. Without `force` only a lock taken by hand, or by `token`'s holder; a
 * running `up`'s lock, or a stale one, needs `force`.
 */
export async function releaseLock(t: LockTarget, o: { readonly force: boolean; readonly token?: string }): Promise<LockState> {
    const file = lockPath(t.stateDir);
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
    if (await removeIfStill(t.host, file, r.token)) {
        await audit(t, { operation: "lock", details: { action: o.force ? "force-release" : "release", holder: r.performer, kind: r.kind } });
    }
    return st;
}
