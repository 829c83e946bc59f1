import assert from "node:assert/strict";
import { LockRecord, describeHolder, heldRefusal, lockState, parseLock } from "../../../../components/model/safety/lock";

const UP: LockRecord = {
    kind: "up",
    performer: "ci",
    stack: "prod",
    time: "2026-12-03T10:00:00.000Z",
    message: "pulumi up",
    release: "abc1234",
    token: "t1",
    hostname: "runner-1",
    pid: 4242,
    renewed: "2026-12-03T10:00:30.000Z",
    leaseSeconds: 60,
};
const MANUAL: LockRecord = { kind: "manual", performer: "ana", stack: "prod", time: "2026-12-03T09:00:00.000Z", message: "db maintenance", token: "t2" };
const at = (iso: string) => new Date(iso);

/** An up's lock taken on runner-1 by pid 4242, started at tick 777, in pid namespace A of boot B. */
const FULL: LockRecord = { ...UP, bootId: "boot-B", pidNamespace: "pid:[4026531836]", startTime: "777" };
/** This process: runner-1, boot B, pid namespace A, and which pids live here with their start times. */
const space = (pids: Record<number, string>, o: { hostname?: string; bootId?: string; pidNamespace?: string } = {}) => ({
    hostname: o.hostname ?? "runner-1",
    bootId: o.bootId ?? "boot-B",
    pidNamespace: o.pidNamespace ?? "pid:[4026531836]",
    startTime: (pid: number) => pids[pid],
});
/** This process, where pid 4242 is the holder (alive) or no process at all. */
const here = (alive: boolean, hostname = "runner-1") => space(alive ? { 4242: "777" } : {}, { hostname });

describe("lock (pure)", () => {
    it("no record is free; a manual lock is held whatever the time", () => {
        assert.deepEqual(lockState(undefined, at("2026-12-03T10:00:00Z"), here(true)), { state: "free" });
        assert.equal(lockState(MANUAL, at("2027-06-01T00:00:00Z"), here(false)).state, "held", "a manual lock never expires");
    });

    it("an up's lock is held while its process lives and its lease is fresh", () => {
        assert.equal(lockState(UP, at("2026-12-03T10:01:00Z"), here(true)).state, "held");
        assert.equal(lockState(UP, at("2026-12-03T10:01:00Z"), here(true, "laptop")).state, "held", "another machine trusts the lease");
    });

    it("is stale at once when its process on this machine is gone, and anywhere once the lease ran out", () => {
        const gone = lockState(FULL, at("2026-12-03T10:00:31Z"), here(false));
        assert.equal(gone.state, "stale");
        assert.match((gone as { why: string }).why, /its process 4242 on runner-1 is gone/);
        const late = lockState(UP, at("2026-12-03T10:01:31Z"), here(true, "laptop"));
        assert.equal(late.state, "stale");
        assert.match((late as { why: string }).why, /its lease ran out \(last renewed 2026-12-03T10:00:30.000Z, good for 60 s\)/);
        assert.equal(lockState(UP, at("2026-12-03T10:01:31Z"), here(true)).state, "stale", "a reused pid does not keep it: the lease still runs out");
    });

    it("a holder in another pid namespace with the same hostname (a CI container) is held until its lease runs out", () => {
        const ci = space({}, { pidNamespace: "pid:[4026532999]" });
        assert.equal(lockState(FULL, at("2026-12-03T10:01:00Z"), ci).state, "held", "its pid means nothing here");
        assert.equal(lockState(FULL, at("2026-12-03T10:01:31Z"), ci).state, "stale", "the lease still runs out");
    });

    it("a holder from another boot of this machine is judged by its lease only", () => {
        assert.equal(lockState(FULL, at("2026-12-03T10:01:00Z"), space({}, { bootId: "boot-C" })).state, "held");
    });

    it("a pid reused by another process does not keep the lock: the start time differs", () => {
        const reused = lockState(FULL, at("2026-12-03T10:00:31Z"), space({ 4242: "91234" }));
        assert.equal(reused.state, "stale");
        assert.match((reused as { why: string }).why, /its process 4242 on runner-1 is gone/);
        assert.equal(lockState(FULL, at("2026-12-03T10:00:31Z"), space({ 4242: "777" })).state, "held", "the same process still runs");
        assert.equal(lockState(FULL, at("2026-12-03T10:00:31Z"), space({})).state, "stale", "no process with that pid");
    });

    it("a record without the boot id, pid namespace or start time is judged by its lease only", () => {
        assert.equal(lockState(UP, at("2026-12-03T10:00:31Z"), space({})).state, "held");
    });

    it("the lease renewed in its own file counts over the record's first time", () => {
        const elsewhere = space({}, { hostname: "laptop" });
        assert.equal(lockState(FULL, at("2026-12-03T10:05:00Z"), elsewhere, "2026-12-03T10:04:30.000Z").state, "held");
        assert.equal(lockState(FULL, at("2026-12-03T10:05:00Z"), elsewhere).state, "stale");
    });

    it("parses a record, and treats an unreadable file as held by hand, never as free", () => {
        assert.deepEqual(parseLock(JSON.stringify(MANUAL)), MANUAL);
        assert.equal(parseLock(""), undefined);
        const junk = parseLock("{half");
        assert.equal(junk?.kind, "manual");
        assert.match(junk!.message, /unreadable lock file/);
    });

    it("names who holds it and an action that works", () => {
        assert.equal(describeHolder(MANUAL), 'ana since 2026-12-03T09:00:00.000Z, by hand (lock acquire): "db maintenance"');
        assert.match(
            heldRefusal("prod", MANUAL, "/var/lib/x/lock.json"),
            /Ask them, or run `npm run local -- lock release --stack prod`.*Nothing was touched\.$/,
        );
        assert.match(
            heldRefusal("prod", UP, "/f"),
            /by an up \(pid 4242 on runner-1\), release abc1234.*up --lock-wait <seconds>.*lock release --force --stack prod/,
        );
    });
});
