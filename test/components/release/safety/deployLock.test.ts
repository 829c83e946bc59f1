// The deploy lock as a run holds it (release/safety/lock.ts), on real files on this host (host
// placement): taken once per process, freed at the end, kept through a destroy, and lost
// when another run took it over, which stops every later step.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { isRefused } from "../../../../components/model/errors";
import { LockRecord, lockPath } from "../../../../components/model/safety/lock";
import { lockGuarded } from "../../../../components/providers/lock";
import {
    HoldOptions,
    LockTarget,
    assertDeployLockKept,
    finishDeployLock,
    holdDeployLock,
    renewHeld,
    stoppedRefusal,
    withDeployLock,
} from "../../../../components/release/safety/lock";
import { INCUS_NOT_FOUND, RunnerStub, ok, stubRunner } from "../../../helpers/runnerStub";
import { quietProgress } from "../../../helpers/quiet";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const O: HoldOptions = { message: "test", waitSeconds: 0 };

describe("the deploy lock as a run holds it", () => {
    quietProgress();
    let dir: string;
    let t: LockTarget;
    let stub: RunnerStub | undefined;
    const file = () => lockPath(dir);
    const record = (): LockRecord | undefined => (fs.existsSync(file()) ? JSON.parse(fs.readFileSync(file(), "utf8")) : undefined);
    const actions = () =>
        fs
            .readFileSync(path.join(dir, "audit.jsonl"), "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l))
            .filter((e) => e.operation === "lock")
            .map((e) => e.details.action);

    beforeEach(() => {
        dir = makeTmp("bg-deploylock-");
        t = { host: { placement: "host" }, stateDir: dir, stack: "dev" };
        delete (globalThis as { bluegreenDeployLock?: unknown }).bluegreenDeployLock;
    });
    afterEach(async () => {
        stub?.restore();
        stub = undefined;
        await finishDeployLock(t).catch(() => undefined);
        delete (globalThis as { bluegreenDeployLock?: unknown }).bluegreenDeployLock;
        removeTmp(dir);
    });

    it("an up takes it once, with its boot, pid namespace and start time, and frees it at the end", async () => {
        await holdDeployLock(t, O);
        await holdDeployLock(t, O);
        const r = record()!;
        assert.equal(r.pid, process.pid);
        assert.equal(r.bootId, fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
        assert.equal(r.pidNamespace, fs.readlinkSync("/proc/self/ns/pid"));
        assert.match(r.startTime!, /^\d+$/);
        await renewHeld(t);
        assert.ok(fs.existsSync(path.join(dir, `lock.json.lease-${r.token}`)), "renewed in its own lease file");
        assert.equal(record()!.renewed, r.renewed, "lock.json is never rewritten");
        await finishDeployLock(t);
        assert.equal(record(), undefined);
        assert.deepEqual(
            fs.readdirSync(dir).filter((f) => f.startsWith("lock.json")),
            [],
            "no lease or aside file left",
        );
        assert.deepEqual(actions(), ["acquire", "release"]);
    });

    it("a renewal that finds another run's lock stops this run: every later step refuses before it starts", async () => {
        await holdDeployLock(t, O);
        const other: LockRecord = { ...record()!, token: "other", performer: "bo", pid: 1 };
        fs.writeFileSync(file(), JSON.stringify(other));
        await renewHeld(t);
        assert.throws(
            () => assertDeployLockKept(),
            (e: Error) => {
                assert.equal(isRefused(e), true);
                assert.match(e.message, /^this run lost the deploy lock of stack dev: .*lock\.json on this host now holds the lock of bo since/);
                assert.match(e.message, /It stopped before this step .*lock status --stack dev/);
                return true;
            },
        );
        let ran = false;
        const provider = lockGuarded({
            async create() {
                ran = true;
                return { id: "x" };
            },
        });
        await assert.rejects(provider.create({}), /lost the deploy lock/);
        assert.equal(ran, false, "the step did not start");
        assert.equal(record()!.token, "other", "the other run's lock is untouched");
    });

    it("a renewal after its directory went with the stack (a destroy) stops renewing, and loses nothing", async () => {
        await holdDeployLock(t, O);
        fs.rmSync(dir, { recursive: true, force: true });
        await renewHeld(t);
        assert.doesNotThrow(() => assertDeployLockKept());
        assert.equal(fs.existsSync(dir), false, "the renewal did not bring the directory back");
        await finishDeployLock(t, O);
        fs.mkdirSync(dir);
    });

    it("a destroy keeps it from its first delete to the end; after an up freed it, a delete holds it only while it runs", async () => {
        let during: LockRecord | undefined;
        await withDeployLock(t, O, async () => {
            during = record();
        });
        assert.equal(during?.pid, process.pid);
        assert.equal(record()?.token, during!.token, "kept for the next delete of the destroy");
        await finishDeployLock(t);
        assert.equal(record(), undefined, "freed by the last delete");

        delete (globalThis as { bluegreenDeployLock?: unknown }).bluegreenDeployLock;
        await holdDeployLock(t, O);
        await finishDeployLock(t);
        await Promise.all([1, 2].map(() => withDeployLock(t, O, async () => assert.equal(record()?.pid, process.pid))));
        assert.equal(record(), undefined, "freed once the deletes that left the program are done");
        assert.deepEqual(actions(), ["acquire", "release", "acquire", "release", "acquire", "release"]);
    });

    it("refuses while the HAProxy instance that keeps it is stopped, naming `incus start`; runs without it while the instance is absent", async () => {
        const incus: LockTarget = { host: { placement: "incus", instance: "prod-haproxy", remote: "edge" }, stateDir: "/var/lib/veza", stack: "prod" };
        stub = stubRunner(() => ok(JSON.stringify({ name: "prod-haproxy", status: "Stopped" })));
        await assert.rejects(holdDeployLock(incus, O), (e: Error) => {
            assert.equal(isRefused(e), true);
            assert.equal(e.message, stoppedRefusal(incus, "Stopped"));
            assert.match(e.message, /which is Stopped, so it cannot be taken: nothing was touched\. Start it with `incus start edge:prod-haproxy`/);
            return true;
        });
        assert.deepEqual(stub.argvs(), [["incus", "query", "edge:/1.0/instances/prod-haproxy"]]);
        stub.restore();
        stub = stubRunner(() => INCUS_NOT_FOUND);
        let ran = false;
        await withDeployLock(incus, O, async () => {
            ran = true;
        });
        assert.equal(ran, true);
    });
});
