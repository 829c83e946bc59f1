// Issue 13 end to end: a progressive shift between the colors on real Incus, HAProxy and
// Prometheus, under load. Steps of 20% and 50% watched for 4 s each, probes every 2 s,
// scraped every second. The share each color answered is observed per step, through HAProxy.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { fileActive } from "../../components/model/traffic/haproxyConfig";
import { ColorProbe, startLoad } from "../../harness/load";
import { TestStack, eventually } from "../../harness/stack";
import { stopPrometheus } from "../../components/release/rollout/prometheus";

const A = "a13a0001";
const B = "b13b0002";
const C = "c13c0003";
const ERRORS = "e13e0004";
const SLOW = "f13f0005";
const D = "e20e005";
/** Percent points the observed share may be off the weights: HAProxy's round robin over a few hundred requests. */
const TOLERANCE = 12;

/** The progress lines' times (UTC, `[bluegreen] HH:MM:SS.mmm`) of each step's start, as ms since the epoch. */
function stepStarts(stderr: string): { step: number; percent: number; at: number }[] {
    const day = new Date().toISOString().slice(0, 10);
    return [...stderr.matchAll(/\[bluegreen\] (\d\d:\d\d:\d\d\.\d{3}) shift: step (\d+)\/\d+: (\d+)% on/g)].map((m) => ({
        step: Number(m[2]),
        percent: Number(m[3]),
        at: Date.parse(`${day}T${m[1]}Z`),
    }));
}

function share(samples: readonly { at: number; color: string }[], color: string, from: number, to: number): { share: number; n: number } {
    const inside = samples.filter((s) => s.at >= from && s.at < to && (s.color === "blue" || s.color === "green"));
    return { share: inside.length ? (100 * inside.filter((s) => s.color === color).length) / inside.length : NaN, n: inside.length };
}

describe("e2e: a progressive shift between the colors, gated on SLIs", function () {
    this.timeout(600_000);
    const s = new TestStack({ name: "shift", basePort: 20500 });
    const promDir = () => path.join(s.haproxyDir, "prometheus");
    const record = () => JSON.parse(fs.readFileSync(path.join(s.layout().stateDir, "shift.json"), "utf8"));

    async function upUnderLoad(opts: { kill?: RegExp } = {}) {
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 10 });
        const probe = new ColorProbe(`http://127.0.0.1:${s.frontendPort}/`, 3);
        const run = s.start(["up"], (err, child) => {
            if (opts.kill?.test(err)) child.kill("SIGKILL");
        });
        const r = await run.done;
        await probe.stop();
        const res = await load.stop();
        return { r, res, samples: probe.samples() };
    }

    before(async () => {
        await stopPrometheus(promDir()).catch(() => undefined);
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: 1 };
        s.config.progressive = { steps: [20, 50, 100], stepSeconds: 4, probeIntervalSeconds: 2, minRequests: 3, p95Seconds: 0.5, errorRatio: 0.05 };
        for (const r of [A, B, C, D]) await s.publishOne("web", r);
        await s.publishOne("web", ERRORS, "errors");
        await s.publishOne("web", SLOW, "latency");
        s.setColors({ blue: A, green: B }, "blue");
        await s.upOk();
    });
    after(async () => {
        await s.teardown();
        await stopPrometheus(promDir()).catch(() => undefined);
    });

    it("a healthy shift reaches 100% by steps; each step's observed share matches its weight; no request fails", async () => {
        s.config.active = "green";
        const { r, res, samples } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        const steps = stepStarts(r.stderr);
        assert.deepEqual(
            steps.map((x) => x.percent),
            [20, 50],
        );
        const done = samples.filter((x) => x.color === "green").at(-1)!.at;
        const bounds = [...steps.map((x) => x.at), done];
        for (const [k, st] of steps.entries()) {
            // From half a second in (the weights are set just before the line), to the next step.
            const got = share(samples, "green", st.at + 500, bounds[k + 1]!);
            assert.ok(got.n > 50, `step ${st.step}: enough answers (${got.n})`);
            assert.ok(
                Math.abs(got.share - st.percent) <= TOLERANCE,
                `step ${st.step}: green answered ${got.share.toFixed(1)}% of ${got.n}, weight ${st.percent}%`,
            );
        }
        assert.match(r.stderr, /switch: green \(b13b0002\) serves traffic/);
        assert.equal(await s.servedColor(), "green");
        assert.equal(record().phase, "done");
        assert.ok(res.requests > 100, JSON.stringify(res));
        assert.deepEqual(
            { status: res.status, connect: res.connect, read: res.read, write: res.write, timeout: res.timeout },
            { status: 0, connect: 0, read: 0, write: 0, timeout: 0 },
            `no failed request during the shift: ${JSON.stringify(res)}`,
        );
        assert.ok(
            samples.every((x) => x.color === "blue" || x.color === "green"),
            "every probe was answered by a color",
        );
        const hist = fs.readFileSync(path.join(s.layout().stateDir, "history"), "utf8");
        assert.match(hist, /blue=80,green=20 b13b0002\n.*blue=50,green=50 b13b0002\n.*green b13b0002\n$/);
    });

    it("flipping back is a fast rollback: 100% on the old color at once, without steps", async () => {
        s.config.active = "blue";
        const t0 = Date.now();
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /shift: step/);
        assert.equal(await s.servedColor(), "blue");
        assert.ok(Date.now() - t0 < 20_000);
    });

    it("a --broken errors release is rolled back at the first step; its share never exceeds the first step's", async () => {
        s.setColors({ blue: A, green: ERRORS }, "blue");
        await s.upOk();
        s.config.active = "green";
        const { r, samples } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /progressive shift to green \(e13e0004\) rolled back at step 1 \(20%\): .*error ratio/);
        assert.match(r.stderr, /All traffic is back on blue/);
        assert.equal(stepStarts(r.stderr).length, 1, "it never reached step 2");
        const st = stepStarts(r.stderr)[0]!;
        const got = share(samples, "green", st.at + 500, samples.at(-1)!.at + 1);
        assert.ok(got.share <= 20 + TOLERANCE, `green answered ${got.share.toFixed(1)}% of ${got.n}`);
        assert.equal(await s.servedColor(), "blue");
        assert.equal(record().phase, "rolledBack");
        const st2 = JSON.parse((await s.run(["status", "--json"])).stdout);
        assert.equal(st2.shift.phase, "rolledBack");
        assert.equal(st2.active.served, "blue");
    });

    it("a --broken latency release is caught by the comparison with the old color although the absolute threshold is loose", async () => {
        s.setColors({ blue: A, green: SLOW }, "blue");
        s.config.progressive = { ...s.config.progressive, p95Seconds: 5 };
        await s.upOk();
        s.config.active = "green";
        const { r } = await upUnderLoad();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /rolled back at step 1 \(20%\): .*p95 .* is more than 1\.5 x the baseline's/);
        assert.equal(await s.servedColor(), "blue");
    });

    it("no data is red: without traffic the first step is rolled back", async () => {
        s.setColors({ blue: A, green: C }, "blue");
        s.config.progressive = { ...s.config.progressive, p95Seconds: 0.5 };
        await s.upOk();
        s.config.active = "green";
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /rolled back at step 1 \(20%\): .*(no data|NaN|fewer than)/);
        assert.equal(await s.servedColor(), "blue");
    });

    it("a runner killed in the middle of a shift leaves a split, and the next up resumes the shift to 100%", async () => {
        s.config.active = "green";
        const killed = await upUnderLoad({ kill: /shift: step 1\/3/ });
        assert.equal(killed.r.code, 137, killed.r.stderr);
        const st = JSON.parse((await s.run(["status", "--json"])).stdout);
        assert.match(st.active.served, /^blue=80,green=20$/, "the kill left the first step's split");
        assert.equal(st.active.drift, true);
        const { r, res } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(
            stepStarts(r.stderr).map((x) => x.percent),
            [20, 50],
        );
        assert.equal(await s.servedColor(), "green");
        assert.equal(res.status + res.connect + res.read + res.timeout, 0, JSON.stringify(res));
    });

    it("a runner killed mid-shift leaves the live split in the config on disk too; a reload keeps it; the next up restarts from step 1 whatever the live split says", async () => {
        // green C serves (the test before): a forward shift to blue on a release that never served.
        s.setColors({ blue: D, green: C }, "blue");
        const killed = await upUnderLoad({ kill: /shift: step 1\/3/ });
        assert.equal(killed.r.code, 137, killed.r.stderr);
        const cfg = fs.readFileSync(path.join(s.haproxyDir, "haproxy.cfg"), "utf8");
        assert.equal(fileActive(cfg), "blue=20,green=80", "the config on disk holds the split that is live");
        // A reload (an operator's, a restart) keeps the split: nothing moves to the unvalidated color.
        const reloads = s.proc()!.reloads;
        spawnSync("socat", ["-t", "5", "STDIO,ignoreeof", `UNIX-CONNECT:${s.layout().master}`], { input: "reload\nquit\n", timeout: 30_000 });
        await eventually(() => (s.proc()?.reloads ?? reloads) > reloads && (s.proc()?.workers.length ?? 0) > 0, "haproxy to reload");
        const weights = Object.fromEntries(s.serverStates().map((x) => [x.server, x.weight]));
        assert.deepEqual(weights, { blue: 20, green: 80 }, "the reloaded worker serves the step's split");
        assert.equal(record().phase, "shifting");
        // Whatever the live split says (here all of it on blue, by hand), the unfinished shift restarts from step 1.
        s.admin("set server be_web/blue weight 100; set server be_web/green weight 0");
        const { r } = await upUnderLoad();
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(
            stepStarts(r.stderr).map((x) => x.percent),
            [20, 50],
        );
        assert.equal(await s.servedColor(), "blue");
        assert.equal(record().phase, "done");
    });

    it("rollout controls on a shift: watch follows it; pause holds the step; abort puts all traffic back on the old color within 2 s; the next up refuses; retry lifts it", async () => {
        // Green on a release that did not serve just before blue's (so not a fast rollback): a shift with long steps.
        s.config.colors.green = { release: B };
        await s.upOk();
        s.config.active = "green";
        s.config.progressive = { ...s.config.progressive, stepSeconds: 60 };
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 10 });
        const seen = new Map<string, number>();
        let err = "";
        const up = s.start(["up"], (all) => {
            err = all;
            for (const [k, re] of [
                ["step", /shift: step 1\/3: 20% on green/],
                ["paused", /rollout: paused by .*e2e hold/],
                ["back", /all traffic is back on blue/],
            ] as const)
                if (!seen.has(k) && re.test(all)) seen.set(k, Date.now());
        });
        let watch: ReturnType<typeof s.start> | undefined;
        try {
            await eventually(() => seen.has("step"), "the shift's first step", 180_000).catch((e: Error) => {
                throw new Error(`${e.message}:\n${err.slice(-3000)}`);
            });
            watch = s.start(["rollout", "watch"]);
            const p = await s.run(["rollout", "pause", "-m", "e2e hold"]);
            assert.equal(p.code, 0, p.stderr);
            await eventually(() => seen.has("paused"), "the up to say it is paused", 10_000);
            const v = await s.run(["rollout", "abort", "-m", "e2e shift abort"]);
            assert.equal(v.code, 0, v.stderr);
            // From the verb's write of the control record, not from the CLI's start-up.
            const t0 = Date.parse(JSON.parse(fs.readFileSync(path.join(s.haproxyDir, "rollout-control.json"), "utf8")).aborted.at);
            await eventually(() => seen.has("back"), "the abort to put traffic back on blue", 10_000);
            assert.ok(seen.get("back")! - t0 < 2000, `all traffic back on blue ${seen.get("back")! - t0} ms after the verb`);
            const r = await up.done;
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /aborted by .*e2e shift abort/, r.stderr);
        } finally {
            const res = await load.stop();
            assert.equal(res.status + res.connect + res.read + res.write + res.timeout, 0, `no failed request: ${JSON.stringify(res)}`);
        }
        assert.equal(await s.servedColor(), "blue");
        const w = await watch!.done;
        assert.equal(w.code, 0, w.stderr);
        assert.match(w.stdout, /shift of b13b0002 on green/);
        assert.match(w.stdout, /paused by .*e2e hold/);
        assert.match(w.stdout, /aborted by .*e2e shift abort/, "watch ends with the rollout, showing how it ended");
        const again = await s.up();
        assert.notEqual(again.code, 0);
        assert.match(again.stderr, /Set bluegreen:active back to blue, or run `npm run local -- rollout retry --stack/);
        const retry = await s.run(["rollout", "retry", "-m", "e2e fixed"]);
        assert.equal(retry.code, 0, retry.stderr);
        assert.match(retry.stdout, /lifted the rejection of the shift of b13b0002 on green/);
        s.config.active = "blue";
        await s.upOk();
    });
});
