// Pools on real Incus and HAProxy: several nodes per color, balanced by HAProxy, grown
// and shrunk by config. A node leaving the pool of the serving color is drained first,
// and nothing drops under load while it goes.

import assert from "node:assert/strict";
import * as http from "http";
import * as fs from "fs";
import * as path from "path";
import { poll } from "../../components/io/poll";
import { prometheusClient } from "../../components/io/prometheus";
import { prometheusRunning, stopPrometheus } from "../../components/release/rollout/prometheus";
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
    const promDir = () => path.join(s.haproxyDir, "prometheus");
    const targetsFile = () => path.join(promDir(), "targets", "bluegreen.json");
    /** The nodes Prometheus scrapes successfully, as `color/node`, once they are what `want` says (bounded). */
    async function scraped(want: string[]): Promise<string[]> {
        const client = prometheusClient({ url: `http://127.0.0.1:${s.frontendPort + 5}` });
        let seen: string[] = [];
        await poll(
            async () => {
                seen = [];
                for (const color of ["blue", "green"]) {
                    for (const node of [1, 2, 3]) {
                        const v = await client.query(`count(up{job="bluegreen-app",component="web",color="${color}",node="${node}"} == 1)`);
                        if (v.kind === "number" && v.value === 1) seen.push(`${color}/${node}`);
                    }
                }
                return JSON.stringify(seen) === JSON.stringify(want) ? true : undefined;
            },
            { intervalMs: 500, timeoutMs: 30_000 },
        );
        return seen;
    }
    const targetNodes = () =>
        JSON.parse(fs.readFileSync(targetsFile(), "utf8"))
            .map((g: any) => `${g.labels.color}/${g.labels.node}`)
            .sort();

    before(async () => {
        await stopPrometheus(promDir()).catch(() => undefined);
        s.reset();
        // One component; 3 nodes use hostPort .. hostPort + 7.
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 2 } };
        s.config.haproxy = { ...s.config.haproxy, settleMs: 15000 };
        // No canary here: bluegreen:prometheus alone runs the program's Prometheus on every up.
        s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: 1 };
        await s.publish(A);
        await s.publish(B);
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir()).catch(() => undefined);
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

    it("Prometheus scrapes every node of both colors on a plain up (no canary): its targets follow the pools", async () => {
        const all = ["blue/1", "blue/2", "blue/3", "green/1", "green/2", "green/3"];
        assert.deepEqual(targetNodes(), all);
        assert.deepEqual(await scraped(all), all);
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
        assert.deepEqual(targetNodes(), ["blue/1", "blue/2", "green/1", "green/2"], "the node that left is no target any more");
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

    it("a Prometheus that died is started again by the next up; removing bluegreen:prometheus stops it and removes the targets", async () => {
        await stopPrometheus(promDir());
        await s.upOk();
        assert.equal(prometheusRunning(promDir()), true);
        assert.deepEqual(targetNodes(), ["blue/1", "green/1"]);
        delete s.config.prometheus;
        await s.upOk();
        assert.equal(prometheusRunning(promDir()), false);
        assert.equal(fs.existsSync(targetsFile()), false);
    });
});
