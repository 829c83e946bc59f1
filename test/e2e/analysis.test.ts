// Issue 23 part 3 on real Incus, HAProxy, Prometheus and wrk: a quiet stack (no traffic but
// what bluegreen itself drives with bluegreen:canary.load) passes a healthy canary and rolls
// back a 5xx one; failureLimit: 2 rides out an injected red probe; a custom metric is
// enforced, and one that is not PromQL, or that Prometheus rejects, is refused before anything is touched. Issue 23
// part 5: a configured postRollback hook runs after the canary's automatic rollback.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { TestStack, instance } from "../../harness/stack";
import { stopPrometheus } from "../../components/release/rollout/prometheus";

const A = "f5a50001";
const B = "f5b50002";
const ERRORS_BROKEN = "f5c50003";
const C = "f5d50004";
const D = "f5e50005";
const E = "f5f50006";
const NODES = [1, 2, 3];

/** `n` requests at once through the frontend, each held `holdMs` by the app: slow answers on demand. */
function slowBurst(port: number, n: number, holdMs: number): Promise<number[]> {
    const one = () =>
        new Promise<number>((resolve) => {
            const req = http.get(`http://127.0.0.1:${port}/?holdMs=${holdMs}`, { agent: false, timeout: 10_000, headers: { connection: "close" } }, (res) => {
                res.resume();
                res.on("end", () => resolve(res.statusCode ?? 0));
            });
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", () => resolve(0));
        });
    return Promise.all([...Array(n).keys()].map(one));
}

describe("e2e: analysis a quiet stack can pass (generated load, failure limits, custom metrics)", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "analysis", basePort: 24100 });
    const promDir = () => path.join(s.haproxyDir, "prometheus");
    const nodeReleases = () => NODES.map((n) => instance(`${s.prefix}web-blue-${n}`)?.config["user.bluegreen.release"]);
    const LOAD = { path: "/", rps: 30, concurrency: 3, headers: { "X-Load-Test": "bluegreen" } };

    before(async () => {
        await stopPrometheus(promDir()).catch(() => undefined);
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 3 } };
        s.config.haproxy = { ...s.config.haproxy, settleMs: 15000 };
        s.config.canary = {
            windowSeconds: 8,
            probeIntervalSeconds: 2,
            minRequests: 5,
            healthTimeoutSeconds: 15,
            p95Seconds: 0.5,
            errorRatio: 0.05,
            load: LOAD,
        };
        s.config.testStack = true;
        s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: 1 };
        for (const r of [A, B, C, D, E]) await s.publish(r);
        await s.publish(ERRORS_BROKEN, "errors");
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir()).catch(() => undefined);
    });

    it("deploy: blue runs a pool of 3 on the first release", async () => {
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        assert.deepEqual(nodeReleases(), [A, A, A]);
    });

    it("preview warns of a window under 300 s unless bluegreen:testStack is true", async () => {
        delete s.config.testStack;
        const warned = await s.run(["preview"]).finally(() => (s.config.testStack = true));
        assert.equal(warned.code, 0, warned.stderr);
        assert.match(warned.stdout + warned.stderr, /bluegreen:canary\.windowSeconds is 8 s, under the 300 s .*set bluegreen:testStack: true/);
        const quiet = await s.run(["preview"]);
        assert.equal(quiet.code, 0, quiet.stderr);
        assert.doesNotMatch(quiet.stdout + quiet.stderr, /under the 300 s/);
    });

    it("a quiet stack with load passes a healthy canary: the load runs for the window, a custom metric with a min passes", async () => {
        s.config.canary.metrics = [{ name: "canary requests", query: "sum(increase(http_requests_total{$selector}[$window]))", min: 1 }];
        s.setColors({ blue: B }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /load GET \/ at up to 30 rps over 3 connection\(s\) for \d+s through http:\/\/127\.0\.0\.1:\d+ \(wrk, pid \d+\)/);
        const done = /load GET \/ at up to 30 rps over 3 connection\(s\): (\d+) requests, (\d+) non-2xx\/3xx, (\d+) failed/.exec(r.stderr);
        assert.ok(done, `the load reported:\n${r.stderr}`);
        assert.ok(Number(done[1]) > 100, `it ran for the window: ${done[0]}`);
        assert.equal(Number(done[2]) + Number(done[3]), 0, done[0]);
        assert.match(r.stderr, /canary requests \d+(\.\d+)?: green \[green 1, failed 0\/0, inconclusive 0\/0\]/);
        assert.match(r.stderr, /all 4 probes over 8s were green/);
        assert.doesNotMatch(r.stderr, /X-Load-Test/, "headers are never printed");
        assert.deepEqual(nodeReleases(), [B, B, B]);
    });

    it("a quiet stack with load rolls back a 5xx canary; the configured postRollback hook runs with the failed release", async () => {
        delete s.config.canary.metrics;
        const hookOut = path.join(s.dir, "postRollback.txt");
        s.config.hooks = {
            postRollback: `echo "$BLUEGREEN_HOOK $BLUEGREEN_OPERATION $BLUEGREEN_COLOR $BLUEGREEN_RELEASE $BLUEGREEN_FAILED_RELEASE" > ${hookOut}`,
        };
        s.setColors({ blue: ERRORS_BROKEN }, "blue");
        const r = await s.up().finally(() => delete s.config.hooks);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`canary of ${ERRORS_BROKEN} rolled back: .*error ratio \\S+ is above the threshold of`));
        assert.match(r.stderr, /The postRollback hook ran\./);
        assert.equal(fs.readFileSync(hookOut, "utf8"), `postRollback canary blue ${B} ${ERRORS_BROKEN}\n`);
        assert.deepEqual(nodeReleases(), [B, B, B]);
        // The load was stopped with the window: no wrk of this run is left.
        const pid = /\(wrk, pid (\d+)\)/.exec(r.stderr)?.[1];
        assert.ok(pid);
        assert.throws(() => process.kill(Number(pid), 0), /ESRCH/);
    });

    it("failureLimit: 2 rides out an injected red probe (a burst of slow answers) and the canary goes on", async () => {
        s.config.canary = { ...s.config.canary, windowSeconds: 16, probeIntervalSeconds: 4, failureLimit: 2 };
        s.setColors({ blue: C }, "blue");
        let burst: Promise<number[]> | undefined;
        const r = await s.start(["up"], (stderr) => {
            if (!burst && /analysis canary .*: probe 1\/4/.test(stderr)) burst = slowBurst(s.frontendPort, 45, 900);
        }).done;
        assert.ok(burst, `the window opened:\n${r.stderr}`);
        await burst;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /: red \(p95 \S+ s is above the threshold of 0\.5 s\) \[green \d, failed [12]\/2, inconclusive 0\/0\]/);
        assert.match(r.stderr, /of 4 probes over 16s were green, within the limits \(green [23], failed [12]\/2, inconclusive 0\/0\)/);
        assert.deepEqual(nodeReleases(), [C, C, C]);
    });

    it("a custom metric is enforced: out of its bound, the canary rolls back naming it", async () => {
        s.config.canary = { ...s.config.canary, windowSeconds: 8, probeIntervalSeconds: 2, failureLimit: 0 };
        s.config.canary.metrics = [{ name: "canary requests", query: "sum(increase(http_requests_total{$selector}[$window]))", max: 1 }];
        s.setColors({ blue: D }, "blue");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`canary of ${D} rolled back: .*probe 1/4 .* is red .*: canary requests \\d+(\\.\\d+)? is above its max of 1`));
        assert.deepEqual(nodeReleases(), [C, C, C]);
    });

    it("a custom metric that is not PromQL is refused by validation; one Prometheus rejects, before anything is touched", async () => {
        s.config.canary.metrics = [{ name: "broken", query: "sum(rate(http_requests_total{$selector}[$window])", max: 1 }];
        s.setColors({ blue: E }, "blue");
        const bad = await s.up();
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /bluegreen:canary\.metrics\[0\]\.query: expected PromQL: it ends too soon/);
        // PromQL by the grammar, but rate() of an instant vector: only Prometheus knows the types.
        s.config.canary.metrics = [{ name: "broken", query: "rate(http_requests_total{$selector})", max: 1 }];
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /bluegreen:canary\.metrics\[0\] \(broken\): Prometheus cannot parse it: .*bad_data.*Nothing was touched/);
        assert.doesNotMatch(r.stderr, /drain: be_web/);
        assert.deepEqual(nodeReleases(), [C, C, C]);
    });
});
