// prometheus.placement: incus on the local daemon: the program's own Prometheus runs inside
// the stack's HAProxy instance (not on this host), scrapes the apps and HAProxy there on
// loopback, and gates a canary: a good release passes its window, a bad one is rolled back.
// A Prometheus stopped in the instance is started again by the next up, with its data; a
// placement change host <-> incus replaces it.
// Short windows as in canary.test.ts (1 s scrapes, a 6 s window). Ports 22300-22399.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import { prometheusClient } from "../../components/io/prometheus";
import { ssdArgv } from "../../components/model/rollout/prometheusConfig";
import { prometheusRunning, stopPrometheus } from "../../components/release/rollout/prometheus";
import { startLoad } from "../../harness/load";
import { TestStack, instance } from "../../harness/stack";

const A = "4a1e0001";
const B = "4b1e0002";
const BAD = "4c1e0003";
const NODES = [1, 2];

/** Host pids of processes whose executable is the in-instance Prometheus, with their pid namespace. */
function prometheusProcesses(): { pid: number; ns: string; argv: string[] }[] {
    const found: { pid: number; ns: string; argv: string[] }[] = [];
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const argv = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0$/, "").split("\0");
            if (!argv[0]?.endsWith("prometheus")) continue;
            found.push({ pid: Number(d), ns: fs.readlinkSync(`/proc/${d}/ns/pid`), argv });
        } catch {
            // gone meanwhile, or not ours to read
        }
    }
    return found;
}

describe("e2e: Prometheus inside the HAProxy instance (prometheus.placement: incus)", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "promi", basePort: 22300, placement: "incus" });
    const promPort = () => s.frontendPort + 5;
    const hx = () => `${s.prefix}haproxy`;
    const client = () => prometheusClient({ url: `http://127.0.0.1:${promPort()}` });
    const devices = () => JSON.parse(spawnSync("incus", ["query", `/1.0/instances/${hx()}`], { encoding: "utf8" }).stdout).devices;
    /** Where prometheus.placement: host runs it, with HAProxy in an instance. */
    const hostDir = () => `/var/lib/${s.config.app}/${s.stack}/prometheus`;
    const nodeReleases = () => NODES.map((n) => instance(`${s.prefix}web-blue-${n}`)?.config["user.bluegreen.release"]);
    /** The Prometheus processes in the instance's pid namespace, as this host sees them. */
    const inInstance = () => {
        const state = JSON.parse(spawnSync("incus", ["query", `/1.0/instances/${hx()}/state`], { encoding: "utf8" }).stdout);
        const ns = fs.readlinkSync(`/proc/${state.pid}/ns/pid`);
        return prometheusProcesses().filter((p) => p.ns === ns && p.argv.includes(`127.0.0.1:${promPort()}`));
    };

    before(async () => {
        await stopPrometheus(hostDir());
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 2 } };
        s.config.canary = { windowSeconds: 6, probeIntervalSeconds: 2, minRequests: 5, healthTimeoutSeconds: 15, p95Seconds: 0.5, errorRatio: 0.05 };
        s.config.prometheus = { placement: "incus", port: promPort(), scrapeIntervalSeconds: 1 };
        await s.publishOne("web", A);
        await s.publishOne("web", B);
        await s.publishOne("web", BAD, "errors");
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(hostDir());
    });

    it("deploy: Prometheus runs inside the HAProxy instance, not on this host, and scrapes the pool and HAProxy there", async () => {
        s.setColors({ blue: A }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`prometheus: pushing /usr/bin/prometheus into instance ${hx()}`));
        assert.match(r.stderr, new RegExp(`prometheus: ready in instance ${hx()} after \\d+ ms`));
        const mine = inInstance();
        assert.equal(mine.length, 1, `one Prometheus in ${hx()}'s pid namespace: ${JSON.stringify(prometheusProcesses())}`);
        assert.notEqual(mine[0].ns, fs.readlinkSync("/proc/self/ns/pid"), "not in this host's pid namespace");
        assert.equal(mine[0].argv[0], "/opt/bluegreen/prometheus/bin/prometheus");
        assert.deepEqual(devices().prometheus, { type: "proxy", listen: `tcp:127.0.0.1:${promPort()}`, connect: `tcp:127.0.0.1:${promPort()}` });
        let up: unknown;
        for (let i = 0; i < 40; i++) {
            up = await client().query(`count(up{job="bluegreen-app",color="blue"} == 1) + count(up{job="bluegreen-haproxy"} == 1)`);
            if ((up as { value?: number }).value === 3) break;
            await new Promise((res) => setTimeout(res, 250));
        }
        assert.deepEqual(up, { kind: "number", value: 3 }, "both nodes and HAProxy's exporter are scraped from inside");
    });

    it("a canary gated on that Prometheus passes a good release", async () => {
        s.setColors({ blue: B }, "blue");
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 20 });
        const r = await s.up().finally(() => undefined);
        const res = await load.stop();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /all 3 probes over 6s were green/);
        assert.match(r.stderr, new RegExp(`canary: ${B} runs on every node of blue`));
        assert.doesNotMatch(r.stderr, /prometheus: starting/, "the running one was kept");
        assert.deepEqual(nodeReleases(), [B, B]);
        assert.equal(res.status + res.connect + res.read + res.timeout, 0, `nothing failed: ${JSON.stringify(res)}`);
    });

    it("and rolls a bad one back, on its 5xx ratio", async () => {
        s.setColors({ blue: BAD }, "blue");
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 20 });
        const r = await s.up().finally(() => undefined);
        await load.stop();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`canary of ${BAD} rolled back: .*error ratio \\S+ is above the threshold of`));
        assert.deepEqual(nodeReleases(), [B, B]);
    });

    it("a changed config is reloaded by SIGHUP through start-stop-daemon: the same process, the new interval", async () => {
        const [pid] = inInstance().map((p) => p.pid);
        s.setColors({ blue: B }, "blue");
        s.config.prometheus = { ...s.config.prometheus, scrapeIntervalSeconds: 2 };
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`prometheus: config changed, reloaded in instance ${hx()}`));
        assert.deepEqual(
            inInstance().map((p) => p.pid),
            [pid],
        );
        assert.match((await client().loadedConfig()).yaml ?? "", /scrape_interval: 2s/);
    });

    it("a Prometheus stopped in the instance is started again by the next up, with the data it had", async () => {
        const before = await client().query(`count_over_time(up{job="bluegreen-haproxy"}[10m])`);
        assert.equal(before.kind, "number");
        const stop = spawnSync("incus", ["exec", hx(), "--", ...ssdArgv("stop")], { encoding: "utf8" });
        assert.equal(stop.status, 0, stop.stderr);
        assert.deepEqual(inInstance(), []);
        s.setColors({ blue: B }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`prometheus: Prometheus is not running in instance ${hx()}; pulumi up will put it right`));
        assert.doesNotMatch(r.stderr, /prometheus: pushing/, "the binary stayed");
        assert.equal(inInstance().length, 1);
        const after = await client().query(`count_over_time(up{job="bluegreen-haproxy"}[10m])`);
        assert.equal(after.kind, "number");
        assert.ok(
            (after as { value: number }).value >= (before as { value: number }).value,
            `the samples from before the restart are still there: ${JSON.stringify({ before, after })}`,
        );
    });

    it("a runner killed while it pushes the binary, run again: the push is redone, one Prometheus runs", async () => {
        // Its marker gone and the server stopped: the next up must push and start again.
        for (const argv of [ssdArgv("stop"), ["rm", "-f", "/opt/bluegreen/prometheus/bin/prometheus.sha256"]]) {
            const r = spawnSync("incus", ["exec", hx(), "--", ...argv], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
        }
        let killed = false;
        const first = await s.start(["up"], (stderr, child) => {
            if (!killed && /prometheus: pushing/.test(stderr)) {
                killed = true;
                child.kill("SIGKILL");
            }
        }).done;
        assert.ok(killed, `the runner reached the push:\n${first.stderr}`);
        const again = await s.up();
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stderr, /prometheus: pushing/);
        assert.equal(inInstance().length, 1);
        assert.equal((await client().ready()).ready, true);
    });

    it("a placement change replaces it, the old one stopped first: to this host, and back into the instance", async () => {
        s.config.prometheus = { ...s.config.prometheus, placement: "host" };
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(inInstance(), []);
        assert.equal(prometheusRunning(hostDir()), true, "on this host now");
        assert.equal(devices().prometheus, undefined);
        assert.equal((await client().ready()).ready, true);

        s.config.prometheus = { ...s.config.prometheus, placement: "incus" };
        const back = await s.up();
        assert.equal(back.code, 0, back.stderr);
        assert.equal(prometheusRunning(hostDir()), false, "the one on this host was stopped");
        assert.equal(inInstance().length, 1);
        assert.doesNotMatch(back.stderr, /prometheus: pushing/, "the binary stayed in the instance");
        assert.equal((await client().ready()).ready, true);
    });

    it("destroy removes it with the instance", async () => {
        const r = await s.run(["destroy"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(instance(hx()), undefined);
        assert.deepEqual(
            prometheusProcesses().filter((p) => p.argv.includes(`127.0.0.1:${promPort()}`)),
            [],
        );
        assert.equal((await client().ready()).ready, false);
    });
});
