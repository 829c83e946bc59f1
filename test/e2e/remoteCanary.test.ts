// A canary and a progressive shift over a plain remote (issue 21 part 1), with the program's own
// Prometheus in the HAProxy instance (the default with a remote), and `status` over the remote.
// The runner, the load (wrk) and every probe of this test run in the runner namespace of a
// MODE=single TestCluster, as remote.test.ts: the Incus host's loopback does not exist there, so
// Prometheus must listen on the remote's address, and status must read and probe through Incus.
// Short windows as in prometheusIncus.test.ts (1 s scrapes, a 6 s window). Ports 22500-22599.

import assert from "node:assert/strict";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { startLoad } from "../../harness/load";
import { TestStack } from "../../harness/stack";

const A = "a21c0001";
const B = "b21c0002";
const BAD = "c21c0003";
const G = "d21c0004";

describe("e2e: a canary, a shift and status over a plain Incus remote, Prometheus in the HAProxy instance (MODE=single)", function () {
    this.timeout(240_000);
    const c = new TestCluster({ name: "e2e-rcanary", mode: "single", members: 1 });
    let st: ClusterStatus;
    let s: TestStack;
    let wrap: { argv: string[]; env: Record<string, string> };
    const remote = (name = "") => `${st.remote}:${name}`;
    const addr = () => st.members[0].address;
    const hx = () => `${s.prefix}haproxy`;
    const promPort = () => s.frontendPort + 5;
    const frontend = () => `http://${addr()}:${s.frontendPort}/`;
    const remoteInstances = async (): Promise<{ name: string; devices: Record<string, Record<string, string>>; config: Record<string, string> }[]> =>
        JSON.parse(await c.incus(["query", `${remote()}/1.0/instances?recursion=1`])).filter((i: { name: string }) => i.name.startsWith(s.prefix));
    const nodeReleases = async () => {
        const all = await remoteInstances();
        return [1, 2].map((n) => all.find((i) => i.name === `${s.prefix}web-blue-${n}`)?.config["user.bluegreen.release"]);
    };
    /** A PromQL instant query, asked from the runner namespace at the remote's address. */
    const promQuery = async (q: string): Promise<number | undefined> => {
        const r = await c.runner(["curl", "-sS", "-m", "5", "--get", "--data-urlencode", `query=${q}`, `http://${addr()}:${promPort()}/api/v1/query`]);
        if (r.code !== 0) return undefined;
        const v = JSON.parse(r.stdout)?.data?.result?.[0]?.value?.[1];
        return v === undefined ? undefined : Number(v);
    };
    const upUnderLoad = async () => {
        const load = startLoad({ url: frontend(), connections: 2, threads: 1, keepAlive: true, pauseMs: 20, wrap });
        const r = await s.up().finally(() => undefined);
        const res = await load.stop();
        return { r, res };
    };
    const status = async () => {
        const r = await s.run(["status", "--json"]);
        return { code: r.code, report: JSON.parse(r.stdout || "{}"), stderr: r.stderr };
    };

    before(async () => {
        st = await c.up();
        wrap = { argv: st.runner.exec, env: { BLUEGREEN_CLUSTER_NAME: c.name, MODE: "single", INCUS_CONF: st.incusConf } };
        s = new TestStack({ name: "rcanary", basePort: 22500, placement: "incus", wrap });
        s.reset();
        for (const i of await remoteInstances()) await c.incus(["delete", "--force", remote(i.name)]);
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/", nodes: 2 } };
        s.config.incus = { remote: st.remote };
        s.config.canary = { windowSeconds: 6, probeIntervalSeconds: 2, minRequests: 5, healthTimeoutSeconds: 15, p95Seconds: 0.5, errorRatio: 0.05 };
        s.config.prometheus = { port: promPort(), scrapeIntervalSeconds: 1 };
        for (const r of [A, B, G]) await s.publishOne("web", r);
        await s.publishOne("web", BAD, "errors");
    });
    after(async () => {
        if (s) await s.run(["destroy"]).catch(() => undefined);
        await c.down();
    });

    it("deploy: Prometheus in the HAProxy instance listens on the remote's address, and scrapes the pool and HAProxy there", async () => {
        s.setColors({ blue: A }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        const pushed = new RegExp(`prometheus: pushed the binary into instance ${st.remote}:${hx()} in ([\\d.]+) s`).exec(r.stderr);
        assert.ok(pushed, r.stderr);
        console.log(`      (the 50 MB binary went over HTTPS in ${pushed[1]} s)`); // measured for README and BENCHMARKS
        assert.match(r.stderr, new RegExp(`prometheus: ready in instance ${st.remote}:${hx()} after \\d+ ms`));
        const dev = (await remoteInstances()).find((i) => i.name === hx())?.devices.prometheus;
        assert.deepEqual(dev, { type: "proxy", listen: `tcp:${addr()}:${promPort()}`, connect: `tcp:127.0.0.1:${promPort()}` });
        let up: number | undefined;
        for (let i = 0; i < 40 && up !== 3; i++) {
            up = await promQuery(`count(up{job="bluegreen-app",color="blue"} == 1) + count(up{job="bluegreen-haproxy"} == 1)`);
            if (up !== 3) await new Promise((res) => setTimeout(res, 250));
        }
        assert.equal(up, 3, "both nodes and HAProxy's exporter are scraped, asked from the runner namespace");
    });

    it("status --json over the remote: HAProxy running, every node healthy through the in-instance prober, the lock free; exit 0", async () => {
        const { code, report, stderr } = await status();
        assert.equal(code, 0, `${stderr}\n${JSON.stringify(report.exit)}`);
        assert.equal(report.haproxy.running, true);
        assert.equal(report.active.served, "blue");
        assert.deepEqual(
            report.colors.blue.containers.map((x: { name: string; state: string; healthy: boolean }) => [x.name, x.state, x.healthy]),
            [1, 2].map((n) => [`${s.prefix}web-blue-${n}`, "RUNNING", true]),
        );
        assert.equal(report.lock.state, "free");
    });

    it("a canary gated on that Prometheus passes a good release under load from the runner namespace", async () => {
        s.setColors({ blue: B }, "blue");
        const { r, res } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /all 3 probes over 6s were green/);
        assert.match(r.stderr, new RegExp(`canary: ${B} runs on every node of blue`));
        assert.deepEqual(await nodeReleases(), [B, B]);
        assert.ok(res.requests > 20, JSON.stringify(res));
        assert.equal(res.status + res.connect + res.read + res.timeout, 0, `nothing failed: ${JSON.stringify(res)}`);
    });

    it("and rolls a bad one back, on its 5xx ratio", async () => {
        s.setColors({ blue: BAD }, "blue");
        const { r } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`canary of ${BAD} rolled back: .*error ratio \\S+ is above the threshold of`));
        assert.deepEqual(await nodeReleases(), [B, B]);
    });

    it("a progressive shift to green steps through 50% on SLIs read at the remote's address, then serves green", async () => {
        s.setColors({ blue: B, green: G }, "blue");
        s.config.progressive = { steps: [50, 100], stepSeconds: 4, probeIntervalSeconds: 2, minRequests: 3, p95Seconds: 0.5, errorRatio: 0.05 };
        const deployed = await s.up();
        assert.equal(deployed.code, 0, deployed.stderr);
        s.config.active = "green";
        const { r, res } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /shift: step 1\/2: 50% on green/);
        assert.match(r.stderr, new RegExp(`switch: green \\(${G}\\) serves traffic`));
        assert.equal(res.status + res.connect + res.read + res.timeout, 0, `nothing failed: ${JSON.stringify(res)}`);
    });

    it("status --json over the remote: a stopped node of the serving color is unhealthy, exit 4", async () => {
        const healthy = await status();
        assert.equal(healthy.code, 0, healthy.stderr);
        const stopped = `${s.prefix}web-green-2`;
        await c.incus(["stop", "--force", remote(stopped)]);
        const { code, report } = await status();
        assert.equal(code, 4, JSON.stringify(report.exit));
        const node = report.colors.green.containers.find((x: { name: string }) => x.name === stopped);
        assert.equal(node.state, "STOPPED");
        assert.equal(node.healthy, false);
        assert.ok(
            report.colors.green.containers.filter((x: { name: string }) => x.name !== stopped).every((x: { healthy: boolean }) => x.healthy),
            JSON.stringify(report.colors.green),
        );
    });
});
