// Releases on a real 3-member Incus cluster (issue 21 part 2), run by the program from the
// cluster's runner namespace over HTTPS: a pool of 3 spread over the 3 members, each node on a
// routed NIC with its address recorded, HAProxy on m2 (haproxy.member, not the member the
// remote's URL names) routing to the nodes' addresses on m1, m2 and m3; switch and fast rollback
// under load through its frontend on m2's address with zero failed requests; a stateful service
// pinned to m3 through a guarded upgrade.

import assert from "node:assert/strict";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { startLoad } from "../../harness/load";
import { TestStack } from "../../harness/stack";
import { ADDRESS_KEY } from "../../components/model/cluster/network";

const A = "a21c701";
const B = "b21c702";
const DB1 = "d21c703";
const DB2 = "d21c704";

interface Live {
    readonly name: string;
    readonly location: string;
    readonly status: string;
    readonly config: Record<string, string>;
    readonly devices: Record<string, Record<string, string>>;
}

describe("e2e: releases on a real 3-member cluster, spread over members on routed addresses (MODE=cluster)", function () {
    this.timeout(240_000);
    const c = new TestCluster({ name: "e2e-crel" });
    let st: ClusterStatus;
    let s: TestStack;
    let wrap: { argv: string[]; env: Record<string, string> };
    const remote = (name = "") => `${st.remote}:${name}`;
    const haproxy = () => `${s.prefix}haproxy`;
    // HAProxy on m2 (haproxy.member): its frontend listens on m2's address.
    const frontend = () => `http://${st.members[1].address}:${s.frontendPort}/`;
    const served = (): Promise<string> => c.served(frontend());
    const live = async (): Promise<Live[]> =>
        (JSON.parse(await c.incus(["query", `${remote()}/1.0/instances?recursion=1`])) as Live[]).filter((i) => i.name.startsWith(s.prefix));
    const upOk = async () => {
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        return r;
    };

    before(async () => {
        st = await c.up();
        wrap = { argv: st.runner.exec, env: { BLUEGREEN_CLUSTER_NAME: c.name, MODE: "cluster", INCUS_CONF: st.incusConf } };
        s = new TestStack({ name: "crel", basePort: 22600, placement: "incus", wrap });
        s.reset();
        // What an interrupted run left: its instances, then its volumes on m3.
        for (const i of await live()) await c.incus(["delete", "--force", remote(i.name)]);
        await c.runner(["incus", "storage", "volume", "delete", remote("default"), `${s.prefix}db-data`, "--target", "m3"]); // absent: fine
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/", nodes: 3 } };
        s.config.incus = { remote: st.remote };
        s.config.haproxy.member = "m2";
        s.config.network = { mode: "routed", parent: "eth0", addresses: st.routedAddresses };
        s.config.stateful = {
            db: { release: DB1, hostPort: s.frontendPort + 50, pool: "default", volumes: { data: "/var/lib/bluegreen-data" }, member: "m3", route: "/db" },
        };
        await s.publishOne("web", A);
        await s.publishOne("web", B);
        await s.publishOne("db", DB1);
        await s.publishOne("db", DB2);
    });
    after(async () => {
        if (s) await s.run(["destroy"]).catch(() => undefined);
        await c.down();
    });

    it("deploys a pool of 3 spread over m1, m2, m3, each on a routed NIC with its address recorded; HAProxy on m2 (haproxy.member) routes to the addresses", async () => {
        s.setColors({ blue: A }, "blue");
        const r = await upOk();
        assert.equal(r.outputs.url, frontend());
        assert.equal(await served(), `blue ${A}`);
        const insts = await live();
        const where = Object.fromEntries(insts.map((i) => [i.name, i.location]));
        assert.deepEqual(
            [1, 2, 3].map((n) => where[`${s.prefix}web-blue-${n}`]),
            ["m1", "m2", "m3"],
            JSON.stringify(where),
        );
        assert.equal(where[haproxy()], "m2", "HAProxy on the member haproxy.member names");
        assert.equal(where[`${s.prefix}db`], "m3");
        for (const i of insts) {
            const a = i.config[ADDRESS_KEY];
            assert.ok(a, `${i.name} records its address`);
            assert.deepEqual(i.devices.eth0, { type: "nic", nictype: "routed", parent: "eth0", "ipv4.address": a }, i.name);
            assert.ok(!i.devices.http, `${i.name} has no proxy device to the app`);
        }
        const hx = insts.find((i) => i.name === haproxy())!;
        assert.deepEqual(
            Object.keys(hx.devices).filter((d) => d.startsWith("be-")),
            [],
            "no backend proxy device in routed mode",
        );
        const cfg = await c.incus(["file", "pull", `${remote(haproxy())}/etc/haproxy/bluegreen.cfg`, "-"]).catch(() => "");
        for (const n of [1, 2, 3]) {
            const a = insts.find((i) => i.name === `${s.prefix}web-blue-${n}`)!.config[ADDRESS_KEY];
            assert.match(cfg, new RegExp(`server blue-${n} ${a.replace(/\./g, "\\.")}:8080 check`), cfg);
        }
        assert.match(r.stderr, /placement: web blue: 1 m1 \S+, 2 m2 \S+, 3 m3 \S+/);
        // status probes each node at its routed address from the HAProxy instance, not a loopback port.
        const st = await s.run(["status", "--json"]);
        const report = JSON.parse(st.stdout) as { colors: Record<string, { containers: { name: string; healthy: boolean; url: string }[] }> };
        for (const ct of report.colors.blue.containers) {
            const a = insts.find((i) => i.name === ct.name)!.config[ADDRESS_KEY];
            assert.equal(ct.url, `http://${a}:8080/health`, JSON.stringify(ct));
            assert.ok(ct.healthy, JSON.stringify(ct));
        }
        assert.equal(st.code, 0, st.stdout + st.stderr);
    });

    it("switches and fast-rolls back under load from the runner namespace, with zero failed requests; a redeploy keeps each node's address", async () => {
        const before = Object.fromEntries((await live()).map((i) => [i.name, i.config[ADDRESS_KEY]]));
        s.setColors({ blue: A, green: B }, "blue");
        await upOk();
        const load = startLoad({ url: frontend(), connections: 4, keepAlive: false, pauseMs: 5, wrap });
        try {
            s.config.active = "green";
            await upOk();
            assert.equal(await served(), `green ${B}`);
            s.config.active = "blue";
            await upOk();
            assert.equal(await served(), `blue ${A}`);
        } finally {
            const res = await load.stop();
            assert.ok(res.requests > 50, `requests: ${JSON.stringify(res)}`);
            assert.deepEqual([res.status, res.connect, res.read, res.write, res.timeout], [0, 0, 0, 0, 0], JSON.stringify(res));
            assert.ok(res.blue > 0 && res.green > 0, JSON.stringify(res));
        }
        const after = Object.fromEntries((await live()).map((i) => [i.name, i.config[ADDRESS_KEY]]));
        for (const [name, a] of Object.entries(before)) assert.equal(after[name], a, `${name} kept its address`);
        const where = Object.fromEntries((await live()).map((i) => [i.name, i.location]));
        assert.deepEqual(
            [1, 2, 3].map((n) => where[`${s.prefix}web-green-${n}`]),
            ["m1", "m2", "m3"],
        );
    });

    it("a stateful service pinned to m3 through a guarded upgrade: its volume and instance stay on m3", async () => {
        s.config.stateful.db.release = DB2;
        const r = await upOk();
        assert.match(r.stderr, new RegExp(`db: guarded upgrade ${DB1} -> ${DB2}`));
        assert.match(r.stderr, new RegExp(`db: upgraded to ${DB2} in [\\d.]+ s; last_good is now ${DB2}`));
        const db = (await live()).find((i) => i.name === `${s.prefix}db`)!;
        assert.equal(db.location, "m3");
        assert.equal(db.config["user.bluegreen.release"], DB2);
        const vol = JSON.parse(await c.incus(["query", `${remote()}/1.0/storage-pools/default/volumes/custom/${s.prefix}db-data?target=m3`]));
        assert.equal(vol.location, "m3");
        // Routed behind HAProxy on m2: its route answers from m3.
        const got = await c.runner(["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", `${frontend()}db`]);
        assert.equal(got.stdout, "200", got.stderr);
    });
});
