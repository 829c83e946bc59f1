// Pools on real Incus and HAProxy: several nodes per color, balanced by HAProxy, grown
// and shrunk by config. A node leaving the pool of the serving color is drained first,
// and nothing drops under load while it goes.

import assert from "node:assert/strict";
import * as http from "http";
import { startLoad } from "../../harness/load";
import { TestStack, instance } from "../../harness/stack";

const A = "aaa7101";
const B = "bbb7102";

/** Which nodes (x-node) answered `n` requests through the frontend, and with which color. */
async function nodesAnswering(port: number, n: number): Promise<{ nodes: Set<string>; colors: Set<string>; bad: number }> {
    const nodes = new Set<string>();
    const colors = new Set<string>();
    let bad = 0;
    for (let i = 0; i < n; i++) {
        const r = await new Promise<{ status: number; node?: string; color?: string }>((resolve) => {
            const req = http.get(`http://127.0.0.1:${port}/`, { agent: false, timeout: 3000, headers: { connection: "close" } }, (res) => {
                res.resume();
                res.on("end", () =>
                    resolve({ status: res.statusCode ?? 0, node: res.headers["x-node"] as string, color: res.headers["x-bluegreen-color"] as string }),
                );
            });
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", () => resolve({ status: 0 }));
        });
        if (r.status !== 200) bad++;
        if (r.node) nodes.add(r.node);
        if (r.color) colors.add(r.color);
    }
    return { nodes, colors, bad };
}

describe("e2e: pools of nodes per color", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "pool", basePort: 19860 });

    before(async () => {
        s.reset();
        // One component; 3 nodes use hostPort .. hostPort + 7.
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 2 } };
        s.config.haproxy = { ...s.config.haproxy, settleMs: 15000 };
        await s.publish(A);
        await s.publish(B);
    });
    after(async () => {
        await s.teardown();
    });

    it("deploy: a color of 2 nodes, each its own container, both answering through HAProxy", async () => {
        s.setColors({ blue: A }, "blue");
        const out = await s.upOk();
        assert.deepEqual(out.containers, { blue: { "web-1": `${s.prefix}web-blue-1`, "web-2": `${s.prefix}web-blue-2` } });
        for (const n of [1, 2]) {
            const i = instance(`${s.prefix}web-blue-${n}`);
            assert.equal(i?.status, "Running");
            assert.equal(i?.config["user.bluegreen.node"], String(n));
        }
        assert.equal(instance(`${s.prefix}web-blue`), undefined, "a pool has no un-numbered container");
        const r = await nodesAnswering(s.frontendPort, 20);
        assert.deepEqual([...r.nodes].sort(), ["1", "2"], "HAProxy balances across both nodes");
        assert.deepEqual([...r.colors], ["blue"]);
        assert.equal(r.bad, 0);
    });

    it("switch to a green pool: every node of green is checked, then serves", async () => {
        s.setColors({ blue: A, green: B }, "green");
        await s.upOk();
        const r = await nodesAnswering(s.frontendPort, 20);
        assert.deepEqual([...r.colors], ["green"]);
        assert.deepEqual([...r.nodes].sort(), ["1", "2"]);
        const states = s.serverStates().filter((x) => x.backend === "be_web");
        assert.deepEqual(
            states.map((x) => `${x.server}=${x.weight}`),
            ["blue-1=0", "blue-2=0", "green-1=50", "green-2=50"],
        );
    });

    it("growing the serving pool adds a node that takes traffic", async () => {
        s.config.components.web.nodes = 3;
        await s.upOk();
        assert.equal(instance(`${s.prefix}web-green-3`)?.status, "Running");
        const r = await nodesAnswering(s.frontendPort, 30);
        assert.deepEqual([...r.nodes].sort(), ["1", "2", "3"]);
        assert.deepEqual([...r.colors], ["green"]);
    });

    it("shrinking the serving pool under load drains the node, then deletes it: nothing fails", async () => {
        s.config.components.web.nodes = 2;
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}`, connections: 4, threads: 1, keepAlive: true });
        let r;
        try {
            r = await s.up();
        } finally {
            const res = await load.stop();
            assert.ok(res.requests > 50, `load ran: ${JSON.stringify(res)}`);
            assert.deepEqual(
                { status: res.status, connect: res.connect, read: res.read, write: res.write, timeout: res.timeout },
                { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
                `no failed request while the node left: ${JSON.stringify(res)}`,
            );
        }
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /drain: be_web\/green-3 take no new requests/);
        assert.match(r.stderr, /drain: be_web\/green-3 drained/);
        assert.equal(instance(`${s.prefix}web-green-3`), undefined, "the node that left is deleted");
        assert.ok(!s.serverStates().some((x) => x.server === "green-3"), "HAProxy no longer has it");
        const after = await nodesAnswering(s.frontendPort, 20);
        assert.deepEqual([...after.nodes].sort(), ["1", "2"]);
    });

    it("status lists every node of each color with its release", async () => {
        const r = await s.run(["status", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const report = JSON.parse(r.stdout);
        assert.deepEqual(
            report.colors.green.containers.map((c: any) => [c.name, c.node, c.release, c.state]),
            [
                [`${s.prefix}web-green-1`, 1, B, "RUNNING"],
                [`${s.prefix}web-green-2`, 2, B, "RUNNING"],
            ],
        );
    });

    it("a pool back to one node takes today's names again; the switch drains the numbered nodes first", async () => {
        s.config.components.web.nodes = 1;
        await s.upOk();
        assert.equal(instance(`${s.prefix}web-green`)?.status, "Running");
        for (const n of [1, 2]) assert.equal(instance(`${s.prefix}web-green-${n}`), undefined);
        const r = await nodesAnswering(s.frontendPort, 10);
        assert.deepEqual([...r.colors], ["green"]);
        assert.deepEqual([...r.nodes], ["1"]);
        assert.equal(r.bad, 0);
    });
});
