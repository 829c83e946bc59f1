// Stateful services through the runner on real Incus: seed 003's live proof, replayed on
// both the dir pool and the btrfs pool the setup script makes. A healthy upgrade keeps the
// data and advances last_good; a broken one (a forward migration, then unhealthy) is rolled
// back with its data restored, last_good unchanged, and an alert written.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import { TestStack, instance, volumeSnapshotNames } from "../../harness/stack";
import { takeSnapshot } from "../../components/release/stateful/snapshot";

const A = "aaa1101";
const B = "bbb1102";
const BROKEN = "ccc1103";
const B2 = "bbb1104";

async function put(port: number, key: string, value: string): Promise<number> {
    const r = await fetch(`http://127.0.0.1:${port}/data/${key}`, { method: "PUT", body: value, signal: AbortSignal.timeout(5000) });
    await r.text();
    return r.status;
}

async function get(port: number, key: string): Promise<string | undefined> {
    const r = await fetch(`http://127.0.0.1:${port}/data/${key}`, { signal: AbortSignal.timeout(5000) });
    const body = await r.text();
    return r.status === 200 ? body : undefined;
}

function statefulStack(name: string, basePort: number, pool: string) {
    const s = new TestStack({ name, basePort });
    const port = basePort + 50;
    const volume = `${s.prefix}db-data`;
    const container = `${s.prefix}db`;
    const configure = (release: string, extra: Record<string, unknown> = {}) => {
        s.config.stateful = { db: { release, hostPort: port, pool, volumes: { data: "/var/lib/bluegreen-data" }, ...extra } };
    };
    const file = (rel: string) => s.readHaproxyFile(`${s.layout().stateDir}/${rel}`);
    const lastGood = () => file("stateful/db/last_good")?.trim();
    const snapshotMeta = () => JSON.parse(file("stateful/db/snapshot.json") ?? "null");
    const alerts = () =>
        (file("alerts.jsonl") ?? "")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l));
    const setup = async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        await s.publishOne("web", A);
        for (const r of [A, B, B2]) await s.publishOne("db", r);
        await s.publishOne("db", BROKEN, "migrate");
        s.setColors({ blue: A }, "blue");
        configure(A);
        await s.upOk();
        assert.equal(await put(port, "marker", "realm-v1"), 200);
    };
    return { s, port, volume, container, configure, lastGood, snapshotMeta, alerts, setup };
}

/** The live proof: (a) a healthy upgrade, (b) the marquee rollback. */
function upgradeAndRollback(t: ReturnType<typeof statefulStack>, pool: string) {
    it(`(${pool}) a healthy upgrade snapshots the stopped service, deploys, keeps the data and advances last_good`, async () => {
        assert.equal(t.lastGood(), A);
        t.configure(B);
        const r = await t.s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /db: guarded upgrade aaa1101 -> bbb1102 \(last_good aaa1101\)/);
        assert.match(r.stderr, /db: known-good snapshot is now kg-\d{8}t\d{6}z-aaa1101/);
        assert.match(r.stderr, /db: upgraded to bbb1102 in [\d.]+ s; last_good is now bbb1102/);
        assert.equal(await get(t.port, "marker"), "realm-v1");
        assert.equal(t.lastGood(), B);
        const meta = t.snapshotMeta();
        assert.equal(meta.release, A);
        assert.deepEqual(meta.volumes, ["data"]);
        assert.deepEqual(volumeSnapshotNames(pool, t.volume), [meta.id], "one known-good snapshot, in Incus itself");
        assert.equal(instance(t.container)?.config["user.bluegreen.release"], B);
    });

    it(`(${pool}) a broken upgrade that migrated the data is rolled back: data restored, last_good unchanged, alert recovered: true`, async () => {
        t.configure(BROKEN);
        const r = await t.s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /guarded upgrade of db to ccc1103 failed \(health: .*stayed unhealthy/);
        assert.match(r.stderr, /restored from snapshot kg-\d{8}t\d{6}z-bbb1102 and bbb1102 \(last_good, unchanged\) serves again/);
        assert.match(r.stderr, /error: up failed:/);
        assert.match(r.stderr, /migrate: rewrote 1 stored value\(s\)/, "the broken release really migrated the data (its log, in the failure)");
        // The broken release rewrote the marker on start; the restore put it back.
        assert.equal(await get(t.port, "marker"), "realm-v1");
        assert.equal(t.lastGood(), B);
        assert.equal(instance(t.container)?.config["user.bluegreen.release"], B);
        assert.equal(instance(t.container)?.status, "Running");
        const alert = t.alerts().at(-1);
        assert.equal(alert.attempted, BROKEN);
        assert.equal(alert.last_good, B);
        assert.equal(alert.recovered, true);
        assert.match(alert.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        const st = await t.s.run(["status", "--json"]);
        assert.equal(st.code, 3, `drift: the config asks for the release that was rolled back\n${st.stderr}`);
        const db = JSON.parse(st.stdout).stateful[0];
        assert.equal(db.name, "db");
        assert.equal(db.release, BROKEN);
        assert.equal(db.liveRelease, B);
        assert.equal(db.lastGood, B);
        assert.equal(db.healthy, true);
        assert.equal(db.snapshot.release, B);
        assert.equal(db.alerts.at(-1).attempted, BROKEN);
        t.configure(B);
        const back = await t.s.up();
        assert.equal(back.code, 0, back.stderr);
        assert.equal(await get(t.port, "marker"), "realm-v1");
    });
}

describe("e2e: stateful services on the dir pool", function () {
    this.timeout(600_000);
    const t = statefulStack("sfd", 20100, "default");
    before(t.setup);
    after(() => t.s.teardown());

    upgradeAndRollback(t, "default");

    it("a snapshot of a running service is refused, naming the instance", async () => {
        const store = {
            service: "db",
            container: t.container,
            target: {},
            pool: "default",
            volumes: [{ name: "data", volume: t.volume }],
            host: { placement: "host" as const },
            stateDir: t.s.layout().stateDir,
        };
        await assert.rejects(takeSnapshot(store, B), new RegExp(`refusing to snapshot db while ${t.container} is Running`));
    });

    it("a kill during the snapshot leaves the previous known-good intact, and the next up succeeds", async () => {
        const before = t.snapshotMeta();
        t.configure(B2);
        const run = t.s.start(["up"], (err, child) => {
            if (/db: snapshot \(/.test(err)) child.kill("SIGKILL");
        });
        const killed = await run.done;
        assert.equal(killed.code, 137, killed.stderr);
        // A killed run leaves at most a half-made snapshot; the metadata still names a complete one.
        const after = t.snapshotMeta();
        assert.ok(after.id === before.id || (volumeSnapshotNames("default", t.volume) ?? []).includes(after.id));
        assert.ok((volumeSnapshotNames("default", t.volume) ?? []).includes(after.id), "the known-good snapshot is still there");
        // What a kill inside `incus snapshot create` leaves: a snapshot the metadata does not name.
        spawnSync("incus", ["storage", "volume", "snapshot", "create", "default", t.volume, "kg-20200101t000000z-bbb1104"]);
        const r = await t.s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await get(t.port, "marker"), "realm-v1");
        assert.equal(t.lastGood(), B2);
        assert.deepEqual(volumeSnapshotNames("default", t.volume), [t.snapshotMeta().id], "leftovers are pruned");
    });

    it("a restore into volumes that no longer match the snapshot is refused; a matching one brings the data back, once", async () => {
        const id = t.snapshotMeta().id;
        assert.equal(await put(t.port, "marker", "after-snapshot"), 200);
        t.configure(B2, { restore: id, volumes: { data: "/var/lib/bluegreen-data", logs: "/var/log/db" } });
        const refused = await t.s.up();
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, new RegExp(`snapshot ${id} holds volumes \\[data\\], but the service has \\[data, logs\\]`));
        assert.match(refused.stderr, /Nothing was touched/);
        assert.equal(await get(t.port, "marker"), "after-snapshot", "the refused restore touched nothing");

        t.configure(B2, { restore: id });
        const r = await t.s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`db: restored 1 volume from ${id}`));
        assert.equal(await get(t.port, "marker"), "realm-v1");
        assert.equal(await put(t.port, "marker", "after-restore"), 200);
        const again = await t.s.up();
        assert.equal(again.code, 0, again.stderr);
        assert.doesNotMatch(again.stderr, /restored/);
        assert.equal(await get(t.port, "marker"), "after-restore", "keeping the same restore value is a no-op");
    });

    it("removing the service keeps its volumes; adding it back finds the data; deleteVolumes deletes them", async () => {
        const keep = t.s.config.stateful;
        delete t.s.config.stateful;
        const r = await t.s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(instance(t.container), undefined);
        assert.ok(volumeSnapshotNames("default", t.volume) !== undefined, "the volume is kept");
        assert.match(r.stderr, new RegExp(`volumes ${t.volume} kept`));

        t.s.config.stateful = { db: { ...keep.db, restore: undefined } };
        delete t.s.config.stateful.db.restore;
        assert.equal((await t.s.up()).code, 0);
        assert.equal(await get(t.port, "marker"), "after-restore");

        t.s.config.stateful.db.deleteVolumes = true;
        assert.equal((await t.s.up()).code, 0);
        delete t.s.config.stateful;
        const gone = await t.s.up();
        assert.equal(gone.code, 0, gone.stderr);
        assert.equal(volumeSnapshotNames("default", t.volume), undefined, "deleteVolumes: true deleted the volume");
    });
});

describe("e2e: stateful services on the btrfs pool", function () {
    this.timeout(600_000);
    const t = statefulStack("sfb", 20200, "bluegreen-btrfs");
    before(t.setup);
    after(() => t.s.teardown());

    upgradeAndRollback(t, "bluegreen-btrfs");

    it("a route puts the service behind HAProxy beside the components, through a guarded upgrade, until the route goes", async () => {
        t.configure(B, { route: "/db" });
        const r = await t.s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /switch: haproxy reloaded/, "the new backend needs a reload");
        const viaFrontend = async () => {
            const res = await fetch(`http://127.0.0.1:${t.s.frontendPort}/db/data/marker`, { signal: AbortSignal.timeout(5000) });
            return { status: res.status, body: await res.text(), service: res.headers.get("x-bluegreen-service") };
        };
        // HAProxy's own check brings the new server UP (rise 2, downinter 250ms).
        let seen = await viaFrontend();
        for (let i = 0; i < 50 && seen.status !== 200; i++) {
            await new Promise((res) => setTimeout(res, 200));
            seen = await viaFrontend();
        }
        assert.deepEqual(seen, { status: 200, body: "realm-v1", service: "db" });
        assert.equal((await t.s.get("/")).color, "blue", "the components' routes are untouched");
        const st = JSON.parse((await t.s.run(["status", "--json"])).stdout);
        assert.equal(st.stateful[0].route, "/db");
        assert.deepEqual(
            st.haproxy.servers.filter((x: { backend: string }) => x.backend === "svc_db").map((x: { server: string; state: string }) => [x.server, x.state]),
            [["db", "UP"]],
        );

        t.configure(B2, { route: "/db" });
        const up = await t.s.up();
        assert.equal(up.code, 0, up.stderr);
        assert.doesNotMatch(up.stderr, /switch: haproxy reloaded/, "an upgrade behind the route does not touch HAProxy");
        seen = await viaFrontend();
        for (let i = 0; i < 50 && seen.status !== 200; i++) {
            await new Promise((res) => setTimeout(res, 200));
            seen = await viaFrontend();
        }
        assert.deepEqual(seen, { status: 200, body: "realm-v1", service: "db" }, "the upgraded service answers through the same route");

        t.configure(B2);
        const off = await t.s.up();
        assert.equal(off.code, 0, off.stderr);
        // The old worker answers once more on a kept-alive connection (option idle-close-on-response).
        seen = await viaFrontend();
        for (let i = 0; i < 10 && seen.service !== null; i++) seen = await viaFrontend();
        assert.equal(seen.service, null, "without a route, /db goes to the default backend again");
        assert.equal(await get(t.port, "marker"), "realm-v1", "and the service still answers on its own port");
    });
});
