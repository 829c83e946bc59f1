// The plain remote (issue 21 part 1): the runner is NOT on the Incus host. It runs inside the
// runner namespace of a MODE=single TestCluster, where the Incus host's loopback does not exist
// and the local daemon is "nowhere" (INCUS_DIR points at an empty dir): it reaches Incus only
// through `incus` with the remote, HAProxy's runtime API over `incus exec socat`, probes through
// the prober inside the HAProxy instance, files through the API, and the frontend on the remote's
// address. The filesystem is shared with the remote daemon in tests, so leaks of this host's
// sockets and files are checked directly: no unix-socket proxy device, no /var/lib/<app>/<stack>.

import assert from "node:assert/strict";
import * as fs from "fs";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { startLoad } from "../../harness/load";
import { TestStack } from "../../harness/stack";

const A = "a21e001";
const B = "b21e002";
const DB1 = "d21e003";
const DB2 = "d21e004";

describe("e2e: a plain Incus remote, the runner in the cluster's runner namespace (MODE=single)", function () {
    this.timeout(240_000);
    const c = new TestCluster({ name: "e2e-remote", mode: "single", members: 1 });
    let st: ClusterStatus;
    let s: TestStack;
    let wrap: { argv: string[]; env: Record<string, string> };
    const remote = (name = "") => `${st.remote}:${name}`;
    const haproxy = () => `${s.prefix}haproxy`;
    const dbPort = () => s.frontendPort + 50;
    const pull = async (file: string) => {
        const r = await c.runner(["incus", "file", "pull", `${remote(haproxy())}${file}`, "-"]);
        return r.code === 0 ? r.stdout : undefined;
    };
    const stateFile = (rel: string) => pull(`/var/lib/${s.config.app}/${rel}`);
    /** The color and release the frontend serves, asked from the runner namespace at the remote's address. */
    const served = (): Promise<string> => c.served(`http://${st.members[0].address}:${s.frontendPort}/`);
    const remoteInstances = async (): Promise<{ name: string; devices: Record<string, Record<string, string>>; config: Record<string, string> }[]> =>
        JSON.parse(await c.incus(["query", `${remote()}/1.0/instances?recursion=1`])).filter((i: { name: string }) => i.name.startsWith(s.prefix));
    const upOk = async () => {
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        return r;
    };

    before(async () => {
        st = await c.up();
        wrap = { argv: st.runner.exec, env: { BLUEGREEN_CLUSTER_NAME: c.name, MODE: "single", INCUS_CONF: st.incusConf } };
        s = new TestStack({ name: "remote", basePort: 22000, placement: "incus", wrap });
        s.reset();
        // What a run of older code left on this host (the leak the checks below catch): this file's own app dir.
        fs.rmSync(`/var/lib/${s.config.app}`, { recursive: true, force: true });
        // What an interrupted run left on the remote: its instances, then its volumes (with their snapshots).
        for (const i of await remoteInstances()) await c.incus(["delete", "--force", remote(i.name)]);
        const vols: string[] = JSON.parse(await c.incus(["query", `${remote()}/1.0/storage-pools/default/volumes/custom`]));
        for (const v of vols.map((u) => decodeURIComponent(u.split("/").pop()!)).filter((n) => n.startsWith(s.prefix))) {
            await c.incus(["storage", "volume", "delete", remote("default"), v]);
        }
        // The remote lacks the base image: the first up brings it from this machine's build.
        await c.runner(["incus", "image", "delete", remote(st.image)]); // absent after an interrupted run: fine
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        s.config.incus = { remote: st.remote };
        s.config.stateful = { db: { release: DB1, hostPort: dbPort(), pool: "default", volumes: { data: "/var/lib/bluegreen-data" } } };
        await s.publishOne("web", A);
        await s.publishOne("web", B);
        await s.publishOne("db", DB1);
        await s.publishOne("db", DB2);
    });
    after(async () => {
        if (s) await s.run(["destroy"]).catch(() => undefined);
        await c.down();
    });

    it("deploys over the remote, bringing the base image: served at the remote's address (the url output), no unix-socket device, no file of this host", async () => {
        s.setColors({ blue: A }, "blue");
        const r = await upOk();
        assert.equal(r.outputs.url, `http://${st.members[0].address}:${s.frontendPort}/`);
        assert.equal(await served(), `blue ${A}`);
        const hx = (await remoteInstances()).find((i) => i.name === haproxy());
        assert.ok(hx, "the HAProxy instance is on the remote");
        const devices = Object.entries(hx.devices).filter(([, d]) => d.type === "proxy");
        assert.deepEqual(
            devices.filter(([, d]) => `${d.listen} ${d.connect}`.includes("unix:")).map(([n]) => n),
            [],
            "no proxy device listens on or connects to a unix socket",
        );
        assert.equal(hx.devices.frontend.listen, `tcp:${st.members[0].address}:${s.frontendPort}`);
        assert.ok(!fs.existsSync(`/var/lib/${s.config.app}`), `nothing under this host's /var/lib/${s.config.app}`);
        assert.match(r.stderr, /web-blue: healthy after/);
        assert.match(r.stderr, new RegExp(`incus: ${st.remote} has no image ${st.image}; importing it from /\\S+/metadata.tar and /\\S+/rootfs.tar`));
        assert.match(r.stderr, new RegExp(`incus: image ${st.image} is on ${st.remote}`));
    });

    it("switches and fast-rolls back under load from the runner namespace, with zero failed requests", async () => {
        s.setColors({ blue: A, green: B }, "blue");
        await upOk();
        const load = startLoad({ url: `http://${st.members[0].address}:${s.frontendPort}/`, connections: 4, keepAlive: false, pauseMs: 5, wrap });
        try {
            s.config.active = "green";
            const sw = await upOk();
            assert.equal(await served(), `green ${B}`);
            s.config.active = "blue";
            const back = await upOk();
            assert.equal(await served(), `blue ${A}`);
            assert.doesNotMatch(`${sw.stderr}${back.stderr}`, /did not answer|output was lost.*no answer/);
            // The hot path over a remote: from the decision to traffic moved, the flip's one exec.
            for (const [r, color] of [
                [sw, "green"],
                [back, "blue"],
            ] as const) {
                assert.match(`${r.stdout}${r.stderr}`, new RegExp(`weights flipped to ${color} over the runtime API, in the flip's exec`));
            }
        } finally {
            const res = await load.stop();
            assert.ok(res.requests > 50, `requests: ${JSON.stringify(res)}`);
            assert.deepEqual([res.status, res.connect, res.read, res.write, res.timeout], [0, 0, 0, 0, 0], JSON.stringify(res));
            assert.ok(res.blue > 0 && res.green > 0, JSON.stringify(res));
        }
        const history = (await stateFile("history")) ?? "";
        assert.equal(history.trim().split("\n").length, 3, history);
    });

    it("a cleanup of blue, then a full rollback (blue back on the previous release, active), on the remote", async () => {
        s.setColors({ blue: A, green: B }, "green");
        await upOk();
        assert.equal(await served(), `green ${B}`);
        s.setColors({ green: B }, "green");
        await upOk();
        const names = async () => (await remoteInstances()).map((i) => i.name).sort();
        assert.deepEqual(await names(), [`${s.prefix}db`, haproxy(), `${s.prefix}web-green`]);
        s.setColors({ blue: A, green: B }, "blue");
        const r = await upOk();
        assert.match(r.stderr, /web-blue: healthy after/);
        assert.equal(await served(), `blue ${A}`);
        assert.deepEqual(await names(), [`${s.prefix}db`, haproxy(), `${s.prefix}web-blue`, `${s.prefix}web-green`]);
    });

    it("a stateful service's guarded upgrade on the remote: a snapshot in the remote's btrfs pool, last_good advanced", async () => {
        s.config.stateful.db.release = DB2;
        const r = await upOk();
        assert.match(r.stderr, new RegExp(`db: guarded upgrade ${DB1} -> ${DB2}`));
        assert.match(r.stderr, new RegExp(`db: upgraded to ${DB2} in [\\d.]+ s; last_good is now ${DB2}`));
        assert.equal((await stateFile("stateful/db/last_good"))?.trim(), DB2);
        const snaps = JSON.parse(await c.incus(["query", `${remote()}/1.0/storage-pools/default/volumes/custom/${s.prefix}db-data/snapshots`]));
        assert.equal(snaps.length, 1, JSON.stringify(snaps));
    });

    it("the deploy lock and the audit log live in the HAProxy instance on the remote", async () => {
        const audit = ((await stateFile("audit.jsonl")) ?? "")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l));
        const ops = new Set(audit.map((e) => (e.operation === "rollback" ? `rollback:${e.details?.kind}` : e.operation)));
        for (const op of ["deploy", "switch", "rollback:fast", "rollback:full", "cleanup", "upgrade", "lock"]) assert.ok(ops.has(op), `${op} in ${[...ops]}`);
        assert.ok(
            audit.some((e) => e.operation === "lock" && e.details?.action === "release"),
            "the lock was released after each up",
        );
        assert.equal(await stateFile("lock.json"), undefined, "a successful up frees the lock");
        assert.ok(!fs.existsSync(`/var/lib/${s.config.app}`), `nothing under this host's /var/lib/${s.config.app}`);
    });
});
