// A member evacuated under load (issue 21 part 2, "its nodes are drained first"), on a real
// 3-member cluster driven from its runner namespace. `incus cluster evacuate m2` is the
// operator's act, and Incus moves or stops m2's instances itself. Without a drain, no request
// fails but those in flight on a node when Incus stops it, and the next `up` replaces and creates
// nothing: a node Incus stopped on m2 waits for its member, one it migrated is recorded where it
// went. With bluegreen:incus.drain: [m2] first, an `up` drains m2's nodes in HAProxy, Incus moves
// them (evacuate --action migrate, then restore) with nothing in flight: zero failed requests;
// the next ups record where each is, and lifting the drain makes them take requests again.
// Ports 22700-22749.

import assert from "node:assert/strict";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { startLoad } from "../../harness/load";
import { TestStack, eventually } from "../../harness/stack";
import { ADDRESS_KEY } from "../../components/model/cluster/network";

const A = "a21e1001";
const B = "b21e1002";

interface Live {
    readonly name: string;
    readonly location: string;
    readonly status: string;
    readonly config: Record<string, string>;
}

describe("e2e: member 2 of a real 3-member cluster evacuated under load (MODE=cluster)", function () {
    this.timeout(420_000);
    const c = new TestCluster({ name: "e2e-cevac" });
    let st: ClusterStatus;
    let s: TestStack;
    let wrap: { argv: string[]; env: Record<string, string> };
    const remote = (name = "") => `${st.remote}:${name}`;
    const frontend = () => `http://${st.members[0].address}:${s.frontendPort}/`;
    const served = (): Promise<string> => c.served(frontend());
    const live = async (): Promise<Record<string, Live>> =>
        Object.fromEntries(
            (JSON.parse(await c.incus(["query", `${remote()}/1.0/instances?recursion=1`])) as Live[])
                .filter((i) => i.name.startsWith(s.prefix))
                .map((i) => [i.name, i]),
        );
    const node = (color: string, n: number) => `${s.prefix}web-${color}-${n}`;
    const cluster = (verb: string, ...more: string[]) =>
        c.runner(["incus", "cluster", verb, remote("m2"), "--force", "--quiet", ...more], { timeoutMs: 150_000 });
    /** HAProxy's `backend/server` to [op_state, admin_state], over its admin socket in the instance (op 2: UP; admin 8: drain). */
    const serverStates = async (): Promise<Record<string, [number, number]>> => {
        const r = await c.runner([
            "incus",
            "exec",
            remote(`${s.prefix}haproxy`),
            "--",
            "sh",
            "-c",
            "echo 'show servers state' | socat stdio unix:/run/haproxy/admin.sock",
        ]);
        const rows = r.stdout.split("\n").filter((l) => /^\d+ /.test(l));
        return Object.fromEntries(rows.map((l) => l.split(" ")).map((f) => [`${f[1]}/${f[3]}`, [Number(f[5]), Number(f[6])]]));
    };
    const failedOf = (res: { status: number; connect: number; read: number; write: number; timeout: number }) =>
        res.status + res.connect + res.read + res.write + res.timeout;

    before(async () => {
        st = await c.up();
        wrap = { argv: st.runner.exec, env: { BLUEGREEN_CLUSTER_NAME: c.name, MODE: "cluster", INCUS_CONF: st.incusConf } };
        s = new TestStack({ name: "cevac", basePort: 22700, placement: "incus", wrap });
        s.reset();
        for (const name of Object.keys(await live())) await c.incus(["delete", "--force", remote(name)]);
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/", nodes: 3 } };
        s.config.incus = { remote: st.remote };
        s.config.network = { mode: "routed", parent: "eth0", addresses: st.routedAddresses };
        await s.publishOne("web", A);
        await s.publishOne("web", B);
        s.setColors({ blue: A, green: B }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        const where = await live();
        assert.deepEqual(
            [1, 2, 3].map((n) => where[node("blue", n)].location),
            ["m1", "m2", "m3"],
        );
    });
    after(async () => {
        if (st) await cluster("restore").catch(() => undefined);
        if (s) await s.run(["destroy"]).catch(() => undefined);
        await c.down();
    });

    it("Incus's own evacuation of m2 under load, no drain: nothing fails but requests in flight; the next up replaces and creates nothing (a stopped node waits for its member, a migrated one is recorded); status shows m2 evacuated", async () => {
        const before = await live();
        const load = startLoad({ url: frontend(), connections: 4, keepAlive: false, pauseMs: 5, wrap });
        let up: Awaited<ReturnType<typeof s.up>>;
        try {
            await new Promise((r) => setTimeout(r, 1000));
            const ev = await cluster("evacuate");
            assert.equal(ev.code, 0, ev.stderr);
            up = await s.up();
            assert.equal(up.code, 0, up.stderr);
        } finally {
            const res = await load.stop();
            console.log(`      load through the evacuation and the up: ${JSON.stringify(res)}`);
            assert.ok(res.requests > 50, `requests: ${JSON.stringify(res)}`);
            // Incus stops each node without a drain: at most the requests in flight on it then, one per connection.
            assert.ok(failedOf(res) <= 4, `failed requests beyond those in flight: ${JSON.stringify(res)}`);
        }
        assert.doesNotMatch(up.stderr, /\[replace\]|: creating|deleted/, "a node Incus stopped or moved is never replaced");
        const after = await live();
        console.log(
            `      Incus put ${["blue", "green"].map((c) => `${node(c, 2)} on ${after[node(c, 2)].location} (${after[node(c, 2)].status})`).join(", ")}`,
        );
        for (const color of ["blue", "green"]) {
            const i = after[node(color, 2)];
            assert.equal(i.config[ADDRESS_KEY], before[i.name].config[ADDRESS_KEY], `${i.name} kept its address`);
            if (i.location === "m2") assert.match(up.stderr, new RegExp(`${i.name}: on member m2, which is evacuated; it waits for its member`), up.stderr);
            else assert.match(up.stderr, new RegExp(`${i.name}: already on member ${i.location} \\(moved off m2 by Incus\\); recording it`), up.stderr);
        }
        const status = await s.run(["status"]);
        assert.match(status.stdout, /members: m1 online, m2 evacuated, m3 online/, status.stdout + status.stderr);
        assert.match(status.stdout, /web blue: 1 m1 \S+, 2 (m2 \S+ \(m2 evacuated\)|m[13] \S+ \(moved off m2, evacuated\)), 3 m3/, status.stdout);
        assert.equal(await served(), `blue ${A}`);

        const restoreLoad = startLoad({ url: frontend(), connections: 4, keepAlive: false, pauseMs: 5, wrap });
        try {
            const r = await cluster("restore");
            assert.equal(r.code, 0, r.stderr);
            up = await s.up();
            assert.equal(up.code, 0, up.stderr);
        } finally {
            const res = await restoreLoad.stop();
            console.log(`      load through the restore and the up: ${JSON.stringify(res)}`);
            assert.ok(failedOf(res) <= 4, `failed requests beyond those in flight: ${JSON.stringify(res)}`);
        }
        assert.doesNotMatch(up.stderr, /\[replace\]|: creating|deleted/, up.stderr);
        const home = await live();
        assert.deepEqual(
            [1, 2, 3].map((n) => [home[node("blue", n)].location, home[node("blue", n)].status]),
            [
                ["m1", "Running"],
                ["m2", "Running"],
                ["m3", "Running"],
            ],
        );
        await eventually(async () => (await serverStates())["be_web/blue-2"]?.[0] === 2, "blue-2 UP in HAProxy again", 15_000);
    });

    it("drained first: with bluegreen:incus.drain: [m2], an up drains m2's nodes in HAProxy; status says so", async () => {
        s.config.incus = { ...s.config.incus, drain: ["m2"] };
        const up = await s.up();
        assert.equal(up.code, 0, up.stderr);
        assert.match(up.stderr, /drain: be_web\/blue-2, be_web\/green-2 take no new requests/, up.stderr);
        assert.match(up.stderr, /drain: be_web\/blue-2, be_web\/green-2 drained/);
        const states = await serverStates();
        assert.equal(states["be_web/blue-2"][1] & 8, 8, JSON.stringify(states));
        assert.equal(states["be_web/blue-1"][1], 0, JSON.stringify(states));
        const status = await s.run(["status"]);
        assert.match(status.stdout, /web blue: 1 m1 \S+, 2 m2 \S+ \(drained\), 3 m3 \S+$/m, status.stdout);
        const again = await s.up();
        assert.equal(again.code, 0, again.stderr);
        assert.doesNotMatch(again.stderr, /drain: /, "a second up leaves the drain as it is");
    });

    it("then evacuate --action migrate and restore under load: Incus moves the drained nodes with nothing in flight, zero failed requests; each up records where they are, replacing nothing", async () => {
        const load = startLoad({ url: frontend(), connections: 4, keepAlive: false, pauseMs: 5, wrap });
        const ups: Awaited<ReturnType<typeof s.up>>[] = [];
        let away: Record<string, Live> = {};
        try {
            await new Promise((r) => setTimeout(r, 1000));
            const ev = await cluster("evacuate", "--action", "migrate");
            assert.equal(ev.code, 0, ev.stderr);
            ups.push(await s.up());
            assert.equal(ups[0].code, 0, ups[0].stderr);
            away = await live();
            const r = await cluster("restore");
            assert.equal(r.code, 0, r.stderr);
            ups.push(await s.up());
            assert.equal(ups[1].code, 0, ups[1].stderr);
        } finally {
            const res = await load.stop();
            console.log(`      load through evacuate, up, restore, up: ${JSON.stringify(res)}`);
            assert.ok(res.requests > 100, `requests: ${JSON.stringify(res)}`);
            assert.equal(failedOf(res), 0, `nothing failed: ${JSON.stringify(res)}`);
        }
        for (const color of ["blue", "green"]) {
            const i = away[node(color, 2)];
            assert.ok(["m1", "m3"].includes(i.location), `${i.name} migrated off m2: ${i.location}`);
            assert.match(ups[0].stderr, new RegExp(`${i.name}: already on member ${i.location} \\(moved off m2 by Incus\\); recording it`), ups[0].stderr);
            assert.match(ups[1].stderr, new RegExp(`${i.name}: already on member m2 \\(moved off ${i.location} by Incus\\); recording it`), ups[1].stderr);
        }
        for (const u of ups) assert.doesNotMatch(u.stderr, /\[replace\]|: creating|deleted/, u.stderr);
        assert.equal((await serverStates())["be_web/blue-2"][1] & 8, 8, "still drained while m2 is listed");
    });

    it("the drain lifted: an up makes m2's nodes take requests again", async () => {
        s.config.incus = { remote: st.remote };
        const up = await s.up();
        assert.equal(up.code, 0, up.stderr);
        assert.match(up.stderr, /drain: be_web\/blue-2, be_web\/green-2 take requests again/, up.stderr);
        const states = await serverStates();
        assert.deepEqual(states["be_web/blue-2"], [2, 0], JSON.stringify(states));
        const status = await s.run(["status"]);
        assert.match(status.stdout, /web blue: 1 m1 \S+, 2 m2 \S+, 3 m3 \S+$/m, status.stdout);
        assert.equal(await served(), `blue ${A}`);
    });
});
