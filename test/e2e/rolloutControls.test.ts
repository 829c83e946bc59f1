// Rollout controls (issue 23 parts 1 and 2) on real Incus, HAProxy and Prometheus, under wrk
// load: the `rollout` verbs act on an `up` that runs as a child process. One stack (a pool of
// 3) for the whole file; short windows.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { ChildProcess } from "child_process";
import { startLoad } from "../../harness/load";
import { TestStack, instance } from "../../harness/stack";
import { stopPrometheus } from "../../components/release/rollout/prometheus";

const A = "a4ab0001";
const B = "a4ab0002";
const C = "a4ab0003";
const D = "a4ab0004";
const E = "a4ab0005";
const NODES = [1, 2, 3];

function frontend(port: number): Promise<string> {
    return new Promise((resolve) => {
        const req = http.get(`http://127.0.0.1:${port}/`, { agent: false, timeout: 3000, headers: { connection: "close" } }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode === 200 ? String(res.headers["x-release"]) : `HTTP ${res.statusCode}`));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => resolve(`error ${e.message}`));
    });
}

/** Resolves once `re` shows in the child's stderr; bounded. */
function waitFor(stderr: () => string, re: RegExp, timeoutMs = 120_000): Promise<number> {
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
        const tick = () => {
            if (re.test(stderr())) return resolve(Date.now());
            if (Date.now() - t0 > timeoutMs) return reject(new Error(`no ${re} within ${timeoutMs} ms:\n${stderr().slice(-3000)}`));
            setTimeout(tick, 100);
        };
        tick();
    });
}

describe("e2e: rollout controls on a running up (abort, pause, resume, promote, manual gates)", function () {
    this.timeout(900_000);
    const s = new TestStack({ name: "rollctl", basePort: 24200 });
    const promDir = () => path.join(s.haproxyDir, "prometheus");
    const nodeReleases = (color = "blue") => NODES.map((n) => instance(`${s.prefix}web-${color}-${n}`)?.config["user.bluegreen.release"]);

    before(async () => {
        await stopPrometheus(promDir()).catch(() => undefined);
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 3 } };
        s.config.haproxy = { ...s.config.haproxy, settleMs: 15000 };
        s.config.canary = { windowSeconds: 8, probeIntervalSeconds: 2, minRequests: 3, healthTimeoutSeconds: 15, p95Seconds: 0.5, errorRatio: 0.05 };
        s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: 1 };
        for (const r of [A, B, C, D, E]) await s.publish(r);
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir()).catch(() => undefined);
    });

    /** Starts `up` under load as a child; `stderr()` reads its progress so far. */
    function upInBackground() {
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 20 });
        let err = "";
        let child: ChildProcess | undefined;
        const started = s.start(["up", "--json"], (all, c) => {
            err = all;
            child = c;
        });
        const done = started.done.finally(() => load.stop());
        return { stderr: () => err, done, child: () => child };
    }
    const verb = (...args: string[]) => s.run(["rollout", ...args]);

    it("deploy: blue runs a pool of 3; no rollout runs, so a verb says so and exits non-zero", async () => {
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        assert.deepEqual(nodeReleases(), [A, A, A]);
        const r = await verb("pause", "-m", "nothing to pause");
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stderr, /no rollout is running on stack/);
    });

    it("abort mid-window rolls back within 2 s, the up fails, and the next up refuses the release naming rollout retry", async () => {
        s.setColors({ blue: B }, "blue");
        const up = upInBackground();
        await waitFor(up.stderr, /analysis canary .*: probe 1\//);
        const v = await verb("abort", "-m", "e2e abort");
        assert.equal(v.code, 0, v.stderr);
        // From the verb's write of the control record, not from the CLI's start-up.
        const t0 = Date.parse(JSON.parse(fs.readFileSync(path.join(s.haproxyDir, "rollout-control.json"), "utf8")).aborted.at);
        const acted = await waitFor(up.stderr, /rolling .*web-blue-3 back to a4ab0001 now/, 10_000);
        assert.ok(acted - t0 < 2000, `acted ${acted - t0} ms after the verb`);
        const r = await up.done;
        const backAt = Date.now();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /aborted by .*: e2e abort/);
        assert.deepEqual(nodeReleases(), [A, A, A]);
        // Every request now answered by A.
        for (let k = 0; k < 10; k++) assert.equal(await frontend(s.frontendPort), A);
        process.stderr.write(`abort: rollback began ${acted - t0} ms and the up ended ${backAt - t0} ms after the verb\n`);
        const again = await s.up();
        assert.notEqual(again.code, 0);
        assert.match(again.stderr, /rollout retry --stack/);
        const status = await verb("status");
        assert.match(status.stdout, /aborted/);
    });

    it("retry lifts the rejection; promote skips the rest of the window to the peers", async () => {
        const rt = await verb("retry", "-m", "fixed the dashboard");
        assert.equal(rt.code, 0, rt.stderr);
        s.config.canary = { ...s.config.canary, windowSeconds: 120 };
        const up = upInBackground();
        await waitFor(up.stderr, /analysis canary .*: probe 1\//);
        const t0 = Date.now();
        const v = await verb("promote", "-m", "looks fine");
        assert.equal(v.code, 0, v.stderr);
        const r = await up.done;
        assert.equal(r.code, 0, r.stderr);
        assert.ok(Date.now() - t0 < 60_000, "the 120 s window was skipped");
        assert.match(r.stderr, /skipped by `rollout promote`; rolling the peers/);
        assert.deepEqual(nodeReleases(), [B, B, B]);
    });

    it("pause holds the window with its clock stopped; resume goes on with the time that was left", async () => {
        s.config.canary = { ...s.config.canary, windowSeconds: 10 };
        s.setColors({ blue: C }, "blue");
        const up = upInBackground();
        await waitFor(up.stderr, /analysis canary .*: probe 2\//);
        const p = await verb("pause", "-m", "lunch");
        assert.equal(p.code, 0, p.stderr);
        await waitFor(up.stderr, /rollout: paused by .*: lunch: canary window holds with \d+s left/, 5000);
        const left = Number(/holds with (\d+)s left/.exec(up.stderr())![1]);
        assert.ok(left >= 3 && left <= 8, `left ${left}`);
        await new Promise((r) => setTimeout(r, 6000));
        const st = await verb("status");
        assert.match(st.stdout, /paused by .*: lunch/);
        assert.match(st.stdout, new RegExp(`window: ${left}s left \\(clock stopped\\)`));
        assert.deepEqual(nodeReleases(), [B, B, C], "held: the peers wait");
        const t0 = Date.now();
        const res = await verb("resume");
        assert.equal(res.code, 0, res.stderr);
        await waitFor(up.stderr, /rollout: resumed; canary window goes on with \d+s left/, 5000);
        const after = Number(/goes on with (\d+)s left/.exec(up.stderr())![1]);
        assert.ok(Math.abs(after - left) <= 1, `paused with ${left}s left, resumed with ${after}s`);
        const r = await up.done;
        assert.equal(r.code, 0, r.stderr);
        assert.ok(Date.now() - t0 >= (left - 1) * 1000, "the rest of the window ran after the resume");
        assert.deepEqual(nodeReleases(), [C, C, C]);
    });

    it("a manual gate (canary.promotion: manual) waits after the window, then proceeds on promote", async () => {
        s.config.canary = { ...s.config.canary, windowSeconds: 4, promotion: "manual", gateTimeoutSeconds: 300 };
        s.setColors({ blue: D }, "blue");
        const up = upInBackground();
        await waitFor(up.stderr, /waiting for `npm run local -- rollout promote/);
        await new Promise((r) => setTimeout(r, 3000));
        assert.deepEqual(nodeReleases(), [C, C, D], "the peers wait at the gate");
        const st = await verb("status");
        assert.match(st.stdout, /gated, gate before the peers/);
        const v = await verb("promote");
        assert.equal(v.code, 0, v.stderr);
        const r = await up.done;
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(nodeReleases(), [D, D, D]);
        const audit = fs.readFileSync(path.join(s.haproxyDir, "audit.jsonl"), "utf8");
        assert.match(audit, /"operation":"rollout".*"verb":"promote"/);
    });

    it("a manual gate that nobody promotes times out (gateTimeoutSeconds) and rolls back; the next up refuses the release until retry", async () => {
        s.config.canary = { ...s.config.canary, windowSeconds: 4, promotion: "manual", gateTimeoutSeconds: 3 };
        s.setColors({ blue: E }, "blue");
        const up = upInBackground();
        const gated = await waitFor(up.stderr, /waiting for `npm run local -- rollout promote/);
        const back = await waitFor(up.stderr, new RegExp(`rolling .*web-blue-3 back to ${D} now`), 30_000);
        assert.ok(back - gated >= 2500 && back - gated < 10_000, `rolled back ${back - gated} ms after the gate opened (bound 3 s)`);
        const r = await up.done;
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /held \(a manual gate or a pause\) past gateTimeoutSeconds \(3 s\) without `rollout promote`/);
        assert.match(r.stderr, new RegExp(`Every node it reached is back on ${D} and serving`));
        assert.deepEqual(nodeReleases(), [D, D, D]);
        for (let k = 0; k < 5; k++) assert.equal(await frontend(s.frontendPort), D);
        const again = await s.up();
        assert.notEqual(again.code, 0);
        assert.match(again.stderr, new RegExp(`release ${E} already failed its canary on blue .*past gateTimeoutSeconds \\(3 s\\).*rollout retry --stack`));
        assert.deepEqual(nodeReleases(), [D, D, D], "the refusal touched nothing");
        const rt = await verb("retry", "-m", "gate owner was away");
        assert.equal(rt.code, 0, rt.stderr);
        s.config.canary = { ...s.config.canary, gateTimeoutSeconds: 300 };
        s.setColors({ blue: D }, "blue");
    });

    it("a manual switch gate (switch.promotion: manual) waits with green deployed and healthy and blue serving, then switches on promote", async () => {
        s.config.canary = { ...s.config.canary, promotion: "auto" };
        s.config.switch = { promotion: "manual", gateTimeoutSeconds: 300 };
        s.setColors({ blue: D, green: E }, "green");
        const up = upInBackground();
        await waitFor(up.stderr, /gate before the switch to green/, 300_000);
        assert.deepEqual(nodeReleases("green"), [E, E, E], "green is deployed");
        for (let k = 0; k < 5; k++) assert.equal(await frontend(s.frontendPort), D, "blue serves while the gate waits");
        const v = await verb("promote");
        assert.equal(v.code, 0, v.stderr);
        const r = await up.done;
        assert.equal(r.code, 0, r.stderr);
        for (let k = 0; k < 5; k++) assert.equal(await frontend(s.frontendPort), E);
    });
});
