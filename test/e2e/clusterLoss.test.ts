// A member lost under load (issue 21 part 2), on a real 3-member cluster driven from its runner
// namespace: member 2 loses the LAN (scripts/cluster.sh cut-link, a pulled cable). HAProxy marks
// its node DOWN within the check's fall time and traffic goes on with no failed request but those
// in flight; once the cluster sees m2 offline, status shows it, and a deploy that needs a node on
// m2 is refused naming the member, in bounded time, while traffic is untouched; one that does not
// need m2 goes on (m2's nodes' addresses read back from HAProxy's config), and with allowReschedule a
// new node goes on a live member.

import assert from "node:assert/strict";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { startLoad } from "../../harness/load";
import { TestStack, eventually } from "../../harness/stack";

const A = "a21c711";
const B = "b21c712";

describe("e2e: member 2 of a real 3-member cluster lost under load (MODE=cluster)", function () {
    this.timeout(240_000);
    const c = new TestCluster({ name: "e2e-closs" });
    let st: ClusterStatus;
    let s: TestStack;
    let wrap: { argv: string[]; env: Record<string, string> };
    const remote = (name = "") => `${st.remote}:${name}`;
    const haproxy = () => `${s.prefix}haproxy`;
    const frontend = () => `http://${st.members[0].address}:${s.frontendPort}/`;
    const served = (): Promise<string> => c.served(frontend());
    /** `backend/server op_state` of HAProxy's servers, over its admin socket in the instance (2: UP, 0: DOWN). */
    const serverStates = async (): Promise<Record<string, string>> => {
        const r = await c.runner([
            "incus",
            "exec",
            remote(haproxy()),
            "--",
            "sh",
            "-c",
            "echo 'show servers state' | socat stdio unix:/run/haproxy/admin.sock",
        ]);
        const rows = r.stdout.split("\n").filter((l) => /^\d+ /.test(l));
        return Object.fromEntries(rows.map((l) => l.split(" ")).map((f) => [`${f[1]}/${f[3]}`, f[5]]));
    };

    before(async () => {
        st = await c.up();
        wrap = { argv: st.runner.exec, env: { BLUEGREEN_CLUSTER_NAME: c.name, MODE: "cluster", INCUS_CONF: st.incusConf } };
        s = new TestStack({ name: "closs", basePort: 22650, placement: "incus", wrap });
        s.reset();
        for (const i of JSON.parse(await c.incus(["query", `${remote()}/1.0/instances`])) as string[]) {
            const name = decodeURIComponent(i.split("/").pop()!);
            if (name.startsWith(s.prefix)) await c.incus(["delete", "--force", remote(name)]);
        }
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/", nodes: 3 } };
        s.config.incus = { remote: st.remote };
        s.config.network = { mode: "routed", parent: "eth0", addresses: st.routedAddresses };
        await s.publishOne("web", A);
        await s.publishOne("web", B);
        s.setColors({ blue: A, green: B }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
    });
    after(async () => {
        // m2 back first, so the destroy reaches every node.
        await c.link("m2", "heal").catch(() => undefined);
        if (s) await s.run(["destroy"]).catch(() => undefined);
        await c.down();
    });

    it("m2 loses the LAN under load: HAProxy marks blue-2 DOWN within its fall time, and no request fails but those in flight", async () => {
        assert.equal(await served(), `blue ${A}`);
        const load = startLoad({ url: frontend(), connections: 4, keepAlive: false, pauseMs: 5, wrap });
        let downAfter = 0;
        try {
            await new Promise((r) => setTimeout(r, 2000));
            const t0 = Date.now();
            await c.link("m2", "cut");
            await eventually(async () => (await serverStates())["be_web/blue-2"] === "0", "HAProxy to mark blue-2 (on m2) DOWN", 15_000);
            downAfter = Date.now() - t0;
            await new Promise((r) => setTimeout(r, 3000));
        } finally {
            const res = await load.stop();
            console.log(`      blue-2 DOWN after ${downAfter} ms; load: ${JSON.stringify(res)}`);
            assert.ok(res.requests > 100, `requests: ${JSON.stringify(res)}`);
            // At most one request in flight per connection on the lost node when the cable went.
            const failed = res.status + res.connect + res.read + res.write + res.timeout;
            assert.ok(failed <= 4, `failed requests beyond those in flight: ${JSON.stringify(res)}`);
        }
        const states = await serverStates();
        assert.equal(states["be_web/blue-1"], "2", JSON.stringify(states));
        assert.equal(states["be_web/blue-3"], "2", JSON.stringify(states));
        assert.equal(await served(), `blue ${A}`);
    });

    it("with m2 offline, status shows it; growing the pool is refused only for the node that must be created on m2, naming it; with allowReschedule it goes on a live member; bounded; blue keeps serving", async () => {
        await eventually(
            async () => /"m2".*OFFLINE|m2.*offline/i.test(await c.incus(["cluster", "list", remote(), "-f", "csv"]).catch(() => "")),
            "the cluster to see m2 offline",
            90_000,
        );
        const status = await s.run(["status"]);
        assert.match(status.stdout, /members: m1 online, m2 offline, m3 online/, status.stdout + status.stderr);
        assert.match(status.stdout, /web blue: 1 m1 \S+, 2 m2 \S+ \(m2 offline\), 3 m3/, status.stdout);
        assert.doesNotMatch(status.stdout, /PROBLEM/, "m2's nodes' addresses are read back from HAProxy's config");
        s.config.components.web.nodes = 5;
        const t0 = Date.now();
        const r = await s.up();
        const took = Date.now() - t0;
        console.log(`      refused up in ${took} ms`);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /web's blue node 5 belongs on member m2, which is offline, and must be created: bring m2 back online/, r.stderr);
        assert.match(r.stderr, /set bluegreen:components\.web\.allowReschedule: true to place it on a live member/);
        assert.doesNotMatch(r.stderr, /node [1-4] belongs on member/, "nodes 1-4 need nothing of m2");
        assert.ok(took < 120_000, `the up took ${took} ms`);
        assert.equal(await served(), `blue ${A}`);

        s.config.components.web.allowReschedule = true;
        const load = startLoad({ url: frontend(), connections: 4, keepAlive: false, pauseMs: 5, wrap });
        let ok: Awaited<ReturnType<typeof s.up>>;
        try {
            const t1 = Date.now();
            ok = await s.up();
            console.log(`      up with node 5 rescheduled in ${Date.now() - t1} ms`);
        } finally {
            const res = await load.stop();
            console.log(`      load: ${JSON.stringify(res)}`);
            assert.deepEqual([res.status, res.connect, res.read, res.write, res.timeout], [0, 0, 0, 0, 0], JSON.stringify(res));
        }
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stderr, new RegExp(`${s.prefix}web-blue-2: on member m2, which is offline; it waits for its member`), ok.stderr);
        const where = Object.fromEntries(
            (JSON.parse(await c.incus(["query", `${remote()}/1.0/instances?recursion=1`])) as { name: string; location: string }[]).map((i) => [
                i.name,
                i.location,
            ]),
        );
        assert.ok(["m1", "m3"].includes(where[`${s.prefix}web-blue-5`]), `blue-5 on a live member: ${where[`${s.prefix}web-blue-5`]}`);
        assert.equal(where[`${s.prefix}web-blue-4`], "m1");
        assert.equal(await served(), `blue ${A}`);
    });

    it("a switch to green, whose node 2 is on the lost m2, is refused naming the member; blue keeps serving", async () => {
        s.config.active = "green";
        const t0 = Date.now();
        const r = await s.up();
        const took = Date.now() - t0;
        console.log(`      refused switch in ${took} ms`);
        assert.notEqual(r.code, 0);
        assert.match(
            r.stderr,
            /switching traffic to green needs every node of green ready, and web's green node 2 is on member m2, which is offline/,
            r.stderr,
        );
        assert.match(r.stderr, /keep bluegreen:active: blue/);
        assert.doesNotMatch(r.stderr, /web-green-2: replace/, "nothing on m2 is planned for replacement");
        assert.ok(took < 120_000, `the up took ${took} ms`);
        assert.equal(await served(), `blue ${A}`);
    });

    it("m2 back online: an up under load leaves the rescheduled blue-5 where it runs (blue serves: a move is a delete-first replace) and moves the idle green-5 home to m2; nothing fails", async () => {
        const where = async () =>
            Object.fromEntries(
                (JSON.parse(await c.incus(["query", `${remote()}/1.0/instances?recursion=1`])) as { name: string; location: string }[]).map((i) => [
                    i.name,
                    i.location,
                ]),
            );
        const before = await where();
        await c.link("m2", "heal");
        await eventually(
            async () => /m2,.*ONLINE/i.test(await c.incus(["cluster", "list", remote(), "-f", "csv"]).catch(() => "")),
            "the cluster to see m2 online again",
            90_000,
        );
        s.config.active = "blue";
        const load = startLoad({ url: frontend(), connections: 4, keepAlive: false, pauseMs: 5, wrap });
        let r: Awaited<ReturnType<typeof s.up>>;
        try {
            r = await s.up();
        } finally {
            const res = await load.stop();
            console.log(`      load: ${JSON.stringify(res)}`);
            assert.deepEqual([res.status, res.connect, res.read, res.write, res.timeout], [0, 0, 0, 0, 0], JSON.stringify(res));
        }
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`${s.prefix}web-blue-5: member changed; blue serves traffic, so it keeps what it runs`), r.stderr);
        const after = await where();
        assert.equal(after[`${s.prefix}web-blue-5`], before[`${s.prefix}web-blue-5`], "blue-5 stays on the live member it was rescheduled to");
        assert.equal(after[`${s.prefix}web-green-5`], "m2", "the idle green-5 goes home");
        assert.equal(await served(), `blue ${A}`);
    });
});
