// A stateful service never loses data (issue 20, items 1 and 2) through the runner on real
// Incus: an `up` from an empty state over live volumes takes the guarded path, a restore is
// applied once, an interrupted guarded upgrade is resumed from its pre-upgrade snapshot,
// and a pool change is refused instead of starting the service on new, empty volumes.

import assert from "node:assert/strict";
import * as fs from "fs";
import { ChildProcess } from "child_process";
import { TestStack, instance, volumeSnapshotNames } from "../../harness/stack";

const A = "aa2a001";
const B = "bb2a002";
const BROKEN = "cc2a003";
const POOL = "bluegreen-btrfs";

describe("e2e: stateful services never lose data", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "sfg", basePort: 21000 });
    const port = s.componentPort("web", "blue") + 50;
    const volume = `${s.prefix}db-data`;
    const container = `${s.prefix}db`;
    let extra: Record<string, unknown> = {};
    const configure = (release: string, more: Record<string, unknown> = {}) => {
        s.config.stateful = { db: { release, hostPort: port, pool: POOL, volumes: { data: "/var/lib/bluegreen-data" }, ...extra, ...more } };
    };
    const file = (rel: string) => s.readHaproxyFile(`${s.layout().stateDir}/${rel}`);
    const lastGood = () => file("stateful/db/last_good")?.trim();
    const knownGood = () => JSON.parse(file("stateful/db/snapshot.json") ?? "null");
    const snapshots = () => volumeSnapshotNames(POOL, volume) ?? [];
    const marker = async (): Promise<string | undefined> => {
        const r = await fetch(`http://127.0.0.1:${port}/data/marker`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
        const body = await r?.text();
        return r?.status === 200 ? body : undefined;
    };
    const setMarker = async (value: string) => {
        const r = await fetch(`http://127.0.0.1:${port}/data/marker`, { method: "PUT", body: value, signal: AbortSignal.timeout(5000) });
        await r.text();
        assert.equal(r.status, 200);
    };
    /** The checkout's state is gone (a CI checkout); BLUEGREEN_ADOPT=1 lets the run through state-loss detection. */
    const upFromEmptyState = () => {
        fs.rmSync(s.statePath(), { force: true });
        return s.start(["up"], undefined, { BLUEGREEN_ADOPT: "1" }).done;
    };
    /** Kills the runner by pid once `line` shows in its progress and `ready` holds (bounded). */
    const upKilledAt = async (line: RegExp, ready: () => Promise<boolean> = async () => true) => {
        let seen = false;
        let killed: Promise<void> | undefined;
        const run = s.start(["up"], (err: string, child: ChildProcess) => {
            if (seen || !line.test(err)) return;
            seen = true;
            killed = (async () => {
                for (let i = 0; i < 100 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 100));
                process.kill(child.pid!, "SIGKILL");
            })();
        });
        const r = await run.done;
        await killed;
        assert.equal(r.code, 137, `the runner was to be killed at ${line}:\n${r.stderr}`);
        return r;
    };

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        // A broken release fails its health wait in 5 s, not 10.
        s.config.health = { ...s.config.health, attempts: 20 };
        await s.publishOne("web", A);
        for (const r of [A, B]) await s.publishOne("db", r);
        await s.publishOne("db", BROKEN, "migrate");
        s.setColors({ blue: A }, "blue");
        configure(A);
        await s.upOk();
        await setMarker("v1");
    });
    after(() => s.teardown());

    it("a kill in the health wait, after the new release migrated the data, is resumed: the pre-upgrade snapshot is kept and restored", async () => {
        configure(BROKEN);
        await upKilledAt(/db: health \(cc2a003/, async () => (await marker())?.startsWith("migrated-by-cc2a003") === true);
        assert.match((await marker()) ?? "", /^migrated-by-cc2a003:/, "the killed upgrade migrated the data");
        const pre = knownGood();
        assert.equal(pre.release, A);
        // The operator goes back to last_good: the data must be its own again, not the migrated data.
        configure(A);
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /db: resuming the interrupted upgrade to cc2a003/);
        assert.match(r.stderr, new RegExp(`db: restored 1 volume from ${pre.id}`));
        assert.equal(await marker(), "v1");
        assert.equal(lastGood(), A);
        assert.deepEqual(snapshots(), [pre.id], "no snapshot of the migrated data; the pre-upgrade one is the known-good");
    });

    it("a restore kept in config is applied once: not again after a failed upgrade, nor at the next healthy one", async () => {
        const id = knownGood().id;
        await setMarker("after-snapshot");
        configure(A, { restore: id });
        const restored = await s.up();
        assert.equal(restored.code, 0, restored.stderr);
        assert.match(restored.stderr, new RegExp(`db: restored 1 volume from ${id}`));
        assert.equal(await marker(), "v1");
        await setMarker("after-restore");
        configure(BROKEN, { restore: id });
        const failed = await s.up();
        assert.notEqual(failed.code, 0);
        assert.match(failed.stderr, /guarded upgrade of db to cc2a003 failed/);
        configure(B, { restore: id });
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /db: restored 1 volume from/);
        assert.equal(await marker(), "after-restore");
        assert.equal(lastGood(), B);
    });

    it("a kill between the old container's delete and the new one's create is resumed from the pre-upgrade snapshot", async () => {
        configure(BROKEN);
        await upKilledAt(/db: creating from \S+ with release cc2a003/);
        const pre = knownGood();
        assert.equal(pre.release, B);
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /db: resuming the interrupted upgrade to cc2a003/);
        assert.match(r.stderr, new RegExp(`restored from snapshot ${pre.id} and bb2a002 \\(last_good, unchanged\\) serves again`));
        assert.equal(await marker(), "after-restore");
        assert.equal(lastGood(), B);
        assert.ok(!snapshots().some((n) => n.endsWith(BROKEN)), `no snapshot of data the broken release touched: ${snapshots().join(", ")}`);
    });

    it("from an empty state, a release change over live volumes is a guarded upgrade: the data is snapshotted first, and a broken release is rolled back with it", async () => {
        await setMarker("v-empty");
        configure(BROKEN);
        const r = await upFromEmptyState();
        assert.notEqual(r.code, 0, r.stderr);
        assert.match(r.stderr, /db: guarded upgrade bb2a002 -> cc2a003 \(last_good bb2a002\)/);
        assert.match(r.stderr, /db: known-good snapshot is now kg-\d{8}t\d{6}z-bb2a002/);
        assert.match(r.stderr, /restored from snapshot kg-\d{8}t\d{6}z-bb2a002 and bb2a002 \(last_good, unchanged\) serves again/);
        assert.equal(await marker(), "v-empty", "the broken release's migration was undone");
        assert.equal(instance(container)?.config["user.bluegreen.release"], B);
        assert.equal(lastGood(), B);
    });

    it("from an empty state, a container of the configured release with another env is not adopted: it is upgraded under guard", async () => {
        extra = { env: { GREETING: "rotated" } };
        configure(B);
        const r = await upFromEmptyState();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /db: guarded upgrade bb2a002 -> bb2a002/);
        assert.equal(instance(container)?.config["environment.GREETING"], "rotated");
        assert.equal(await marker(), "v-empty");
    });

    it("from an empty state, a configured restore is applied when the volumes and the snapshot are there", async () => {
        const id = knownGood().id;
        await setMarker("after-snapshot-2");
        configure(B, { restore: id });
        const r = await upFromEmptyState();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`db: restored 1 volume from ${id}`));
        assert.equal(await marker(), "v-empty");
    });

    it("volumes that no record names a release for are snapshotted before the configured release runs on them", async () => {
        const keep = s.config.stateful;
        delete s.config.stateful;
        const removed = await s.up();
        assert.equal(removed.code, 0, removed.stderr);
        // What a host whose state dir was wiped leaves: the volumes, and nothing that says whose data they hold.
        for (const f of ["last_good", "snapshot.json"]) fs.rmSync(`${s.layout().stateDir}/stateful/db/${f}`, { force: true });
        s.config.stateful = keep;
        configure(B);
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /db: guarded upgrade unknown -> bb2a002 \(last_good none\)/);
        assert.match(r.stderr, /db: known-good snapshot is now kg-\d{8}t\d{6}z-unknown/);
        assert.equal(await marker(), "v-empty");
        assert.equal(lastGood(), B);
    });

    it("moving the service to another pool is refused before anything is touched, naming the migration", async () => {
        const before = instance(container)?.createdAt;
        const data = await marker();
        configure(B, { pool: "default" });
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /incus storage volume move/);
        assert.match(r.stderr, /Nothing was touched/);
        assert.equal(instance(container)?.createdAt, before);
        assert.equal(instance(container)?.status, "Running");
        assert.equal(await marker(), data);
        assert.equal(volumeSnapshotNames("default", volume), undefined, "no new, empty volume in the other pool");
    });
});
