// A canary of a pool spread over a real 3-member cluster on routed addresses (issue 21 part 2),
// with the program's Prometheus in the HAProxy instance on m1: it scrapes each node at its
// address and the app's port, the canary's health waits go to the nodes' addresses, and the
// canary node (the last, on m3) is on another member than its peers. The runner, the load and
// every probe run in the cluster's runner namespace. Short windows as in remoteCanary.test.ts.
// Ports 22800-22899.

import assert from "node:assert/strict";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { startLoad } from "../../harness/load";
import { TestStack } from "../../harness/stack";
import { ADDRESS_KEY } from "../../components/model/cluster/network";

const A = "a21c9001";
const B = "b21c9002";
const BAD = "c21c9003";
const G = "e21e1004";

interface Live {
    readonly name: string;
    readonly location: string;
    readonly config: Record<string, string>;
}

describe("e2e: a canary of a pool spread over 3 cluster members on routed addresses, Prometheus in the HAProxy instance (MODE=cluster)", function () {
    this.timeout(240_000);
    const c = new TestCluster({ name: "e2e-ccanary" });
    let st: ClusterStatus;
    let s: TestStack;
    let wrap: { argv: string[]; env: Record<string, string> };
    const remote = (name = "") => `${st.remote}:${name}`;
    const addr = () => st.members[0].address;
    const promPort = () => s.frontendPort + 5;
    const frontend = () => `http://${addr()}:${s.frontendPort}/`;
    const live = async (): Promise<Live[]> =>
        (JSON.parse(await c.incus(["query", `${remote()}/1.0/instances?recursion=1`])) as Live[]).filter((i) => i.name.startsWith(s.prefix));
    const nodeReleases = async () => {
        const all = await live();
        return [1, 2, 3].map((n) => all.find((i) => i.name === `${s.prefix}web-blue-${n}`)?.config["user.bluegreen.release"]);
    };
    /** A PromQL instant query's series, asked from the runner namespace at m1's address. */
    const promQuery = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
        const r = await c.runner(["curl", "-sS", "-m", "5", "--get", "--data-urlencode", `query=${q}`, `http://${addr()}:${promPort()}/api/v1/query`]);
        if (r.code !== 0) return [];
        return JSON.parse(r.stdout)?.data?.result ?? [];
    };
    const upUnderLoad = async () => {
        const load = startLoad({ url: frontend(), connections: 2, threads: 1, keepAlive: true, pauseMs: 20, wrap });
        const r = await s.up();
        const res = await load.stop();
        return { r, res };
    };

    before(async () => {
        st = await c.up();
        wrap = { argv: st.runner.exec, env: { BLUEGREEN_CLUSTER_NAME: c.name, MODE: "cluster", INCUS_CONF: st.incusConf } };
        s = new TestStack({ name: "ccanary", basePort: 22800, placement: "incus", wrap });
        s.reset();
        for (const i of await live()) await c.incus(["delete", "--force", remote(i.name)]);
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/", nodes: 3 } };
        s.config.incus = { remote: st.remote };
        s.config.network = { mode: "routed", parent: "eth0", addresses: st.routedAddresses };
        s.config.canary = { windowSeconds: 6, probeIntervalSeconds: 2, minRequests: 5, healthTimeoutSeconds: 15, p95Seconds: 0.5, errorRatio: 0.05 };
        s.config.prometheus = { port: promPort(), scrapeIntervalSeconds: 1 };
        for (const r of [A, B]) await s.publishOne("web", r);
        await s.publishOne("web", BAD, "errors");
        await s.publishOne("web", G);
    });
    after(async () => {
        if (s) await s.run(["destroy"]).catch(() => undefined);
        await c.down();
    });

    it("deploys the pool over m1..m3; Prometheus in the HAProxy instance scrapes each node at <address>:8080 and HAProxy's exporter", async () => {
        s.setColors({ blue: A }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        const insts = await live();
        const node = (n: number) => insts.find((i) => i.name === `${s.prefix}web-blue-${n}`)!;
        assert.deepEqual(
            [1, 2, 3].map((n) => node(n).location),
            ["m1", "m2", "m3"],
        );
        // The canary node (the last, by default) is on another member than at least one peer.
        assert.ok([1, 2].some((n) => node(n).location !== node(3).location));
        const want = [1, 2, 3].map((n) => `${node(n).config[ADDRESS_KEY]}:8080`).sort();
        let got: string[] = [];
        let exporter = 0;
        for (let i = 0; i < 40 && (got.join() !== want.join() || exporter !== 1); i++) {
            got = (await promQuery(`up{job="bluegreen-app",color="blue"} == 1`)).map((x) => x.metric.instance).sort();
            exporter = (await promQuery(`up{job="bluegreen-haproxy"} == 1`)).length;
            if (got.join() !== want.join() || exporter !== 1) await new Promise((res) => setTimeout(res, 250));
        }
        assert.deepEqual(got, want, "every node scraped up at its routed address");
        assert.equal(exporter, 1, "HAProxy's exporter scraped on its loopback");
    });

    it("a canary gated on that Prometheus passes a good release under load, with zero failed requests", async () => {
        s.setColors({ blue: B }, "blue");
        const { r, res } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /all 3 probes over 6s were green/);
        assert.match(r.stderr, new RegExp(`canary: ${B} runs on every node of blue`));
        assert.deepEqual(await nodeReleases(), [B, B, B]);
        assert.ok(res.requests > 20, JSON.stringify(res));
        assert.equal(res.status + res.connect + res.read + res.timeout, 0, `nothing failed: ${JSON.stringify(res)}`);
    });

    it("and rolls a bad one (5xx) back, on its error ratio", async () => {
        s.setColors({ blue: BAD }, "blue");
        const { r } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`canary of ${BAD} rolled back: .*error ratio \\S+ is above the threshold of`));
        assert.deepEqual(await nodeReleases(), [B, B, B]);
    });

    it("a progressive shift to a green pool spread over m1..m3 steps through 50% on that Prometheus under load, with zero failed requests", async function () {
        this.timeout(600_000);
        // What blue runs (B after the canaries above): no canary here, only green's deploy and the shift.
        const [blue] = await nodeReleases();
        s.setColors({ blue: blue!, green: G }, "blue");
        s.config.progressive = { steps: [50, 100], stepSeconds: 4, probeIntervalSeconds: 2, minRequests: 3, p95Seconds: 0.5, errorRatio: 0.05 };
        const deployed = await s.up();
        assert.equal(deployed.code, 0, deployed.stderr);
        const insts = await live();
        assert.deepEqual(
            [1, 2, 3].map((n) => insts.find((i) => i.name === `${s.prefix}web-green-${n}`)?.location),
            ["m1", "m2", "m3"],
        );
        s.config.active = "green";
        const { r, res } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /shift: step 1\/2: 50% on green/);
        assert.match(r.stderr, new RegExp(`switch: green \\(${G}\\) serves traffic`));
        assert.equal(await c.served(frontend()), `green ${G}`);
        assert.ok(res.requests > 20, JSON.stringify(res));
        assert.equal(res.status + res.connect + res.read + res.write + res.timeout, 0, `nothing failed: ${JSON.stringify(res)}`);
    });
});
