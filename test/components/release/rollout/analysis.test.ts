// runAnalysis with a fake Prometheus client and a fake clock: the logic, no I/O and no
// real waiting (the clock's sleep moves fake time on).

import assert from "node:assert/strict";
import { InstantValue } from "../../../../components/model/rollout/promql";
import { Clock, JudgedProbe, SliClient, runAnalysis } from "../../../../components/release/rollout/analysis";
import { captureStderr, setEnv } from "../../../helpers/tmp";

const T0 = Date.parse("2026-12-02T10:00:00.000Z");
const QUERIES = { p95: "P95{$selector}[$window]", errorRatio: "ERR{$selector}[$window]", requests: "REQ{$selector}[$window]" };
const THRESHOLDS = { p95Seconds: 0.5, errorRatio: 0.005, minRequests: 20 };
const SELECTOR = { component: "backend", color: "green", node: "2" };

interface Values {
    p95: InstantValue;
    errorRatio: InstantValue;
    requests: InstantValue;
}
const n = (value: number): InstantValue => ({ kind: "number", value });
const GOOD: Values = { p95: n(0.02), errorRatio: n(0), requests: n(120) };

class FakeClock implements Clock {
    t: number;
    sleeps: number[] = [];
    constructor(t: number) {
        this.t = t;
    }
    now(): number {
        return this.t;
    }
    async sleep(ms: number): Promise<void> {
        this.sleeps.push(ms);
        this.t += ms;
    }
}

/** Answers with `values(k)` for probe k, k counted from the schedule of (start, interval). */
function fakeClient(
    start: number,
    intervalS: number,
    values: (k: number) => Values,
    onQuery?: () => void,
): SliClient & { asked: { q: string; at?: number }[] } {
    const asked: { q: string; at?: number }[] = [];
    return {
        url: "http://fake:9090",
        asked,
        async query(q, o) {
            asked.push({ q, at: o?.timeMs });
            onQuery?.();
            const k = Math.round(((o?.timeMs ?? 0) - start) / (intervalS * 1000));
            const v = values(k);
            return q.startsWith("P95") ? v.p95 : q.startsWith("ERR") ? v.errorRatio : v.requests;
        },
    };
}

function options(client: SliClient, clock: Clock, over: Record<string, unknown> = {}) {
    return {
        client,
        clock,
        queries: QUERIES,
        selector: SELECTOR,
        thresholds: THRESHOLDS,
        windowSeconds: 10,
        probeIntervalSeconds: 2,
        label: "canary backend node 2",
        startedAt: T0,
        ...over,
    };
}

describe("runAnalysis", () => {
    let restore: () => void;
    before(() => {
        restore = setEnv({ BLUEGREEN_QUIET: "1" });
    });
    after(() => restore());

    it("all green: every probe of the window, each at its own time, then green", async () => {
        const clock = new FakeClock(T0);
        const client = fakeClient(T0, 2, () => GOOD);
        const seen: JudgedProbe[] = [];
        const r = await runAnalysis({ ...options(client, clock), onProbe: (p) => void seen.push(p) });
        assert.equal(r.verdict, "green");
        assert.equal(r.probes.length, 5);
        assert.deepEqual(
            r.probes.map((p) => p.at),
            [2, 4, 6, 8, 10].map((s) => new Date(T0 + s * 1000).toISOString()),
        );
        assert.deepEqual(r.reasons, ["canary backend node 2: all 5 probes over 10s were green"]);
        assert.equal(seen.length, 5, "onProbe after every probe");
        assert.equal(client.asked.length, 15, "three queries a probe");
        assert.equal(clock.t, T0 + 10_000, "ends at the window's end");
        assert.ok(r.probes.every((p) => !p.late));
    });

    it("with a baseline, also compares with it over the same window: a p95 under the threshold but 3 x the old color's is red", async () => {
        const clock = new FakeClock(T0);
        const asked: string[] = [];
        const client: SliClient = {
            url: "http://fake:9090",
            async query(q) {
                asked.push(q);
                const old = q.includes('color="blue"');
                if (q.startsWith("P95")) return n(old ? 0.01 : 0.03);
                return q.startsWith("ERR") ? n(0) : n(120);
            },
        };
        const r = await runAnalysis({
            ...options(client, clock),
            selector: { color: "green" },
            baseline: { selector: { color: "blue" }, limits: { maxP95Factor: 1.5, maxErrorRatioDelta: 0.01 } },
        });
        assert.equal(r.verdict, "red");
        assert.equal(r.probes.length, 1);
        assert.match(r.reasons[0]!, /p95 0.03 s is more than 1.5 x the baseline's 0.01 s .* against \{color="blue"\}/);
        assert.equal(asked.length, 6, "three queries for each side");
        const same = await runAnalysis({
            ...options(
                fakeClient(T0, 2, () => GOOD),
                new FakeClock(T0),
            ),
            selector: { color: "green" },
            baseline: { selector: { color: "blue" }, limits: { maxP95Factor: 1.5, maxErrorRatioDelta: 0.01 } },
        });
        assert.equal(same.verdict, "green", "equal colors are green");
    });

    it("fills the selector and the lookback into the queries", async () => {
        const clock = new FakeClock(T0);
        const client = fakeClient(T0, 2, () => GOOD);
        await runAnalysis({ ...options(client, clock), windowSeconds: 2, lookbackSeconds: 8 });
        assert.deepEqual(client.asked.map((a) => a.q).sort(), [
            'ERR{component="backend",color="green",node="2"}[8s]',
            'P95{component="backend",color="green",node="2"}[8s]',
            'REQ{component="backend",color="green",node="2"}[8s]',
        ]);
    });

    it("the first red probe ends it, naming the probe and its values", async () => {
        const clock = new FakeClock(T0);
        const client = fakeClient(T0, 2, (k) => (k === 3 ? { ...GOOD, p95: n(0.8125) } : GOOD));
        const r = await runAnalysis(options(client, clock));
        assert.equal(r.verdict, "red");
        assert.equal(r.probes.length, 3);
        assert.equal(client.asked.length, 9, "no query after the red probe");
        assert.deepEqual(r.reasons, [
            "canary backend node 2: probe 3/5 at 2026-12-02T10:00:06.000Z (+6s) is red (p95 0.813 s, error ratio 0%, 120 requests): " +
                "p95 0.813 s is above the threshold of 0.5 s",
        ]);
        assert.deepEqual(
            r.probes.map((p) => p.verdict),
            ["green", "green", "red"],
        );
    });

    it("no data is red, never green", async () => {
        const clock = new FakeClock(T0);
        const empty: InstantValue = { kind: "empty" };
        const r = await runAnalysis(
            options(
                fakeClient(T0, 2, () => ({ p95: empty, errorRatio: empty, requests: empty })),
                clock,
            ),
        );
        assert.equal(r.verdict, "red");
        assert.equal(r.probes.length, 1);
        assert.match(r.reasons.join("\n"), /probe 1\/5 .*: requests: no data/);
        assert.match(r.reasons.join("\n"), /p95: no data/);
    });

    it("NaN (no requests) is red", async () => {
        const clock = new FakeClock(T0);
        const r = await runAnalysis(
            options(
                fakeClient(T0, 2, () => ({ p95: { kind: "nan" }, errorRatio: { kind: "nan" }, requests: n(0) })),
                clock,
            ),
        );
        assert.equal(r.verdict, "red");
        assert.match(r.reasons.join("\n"), /p95: NaN \(no requests observed in the window\)/);
    });

    it("thin traffic is red", async () => {
        const clock = new FakeClock(T0);
        const r = await runAnalysis(
            options(
                fakeClient(T0, 2, (k) => (k === 2 ? { ...GOOD, requests: n(7) } : GOOD)),
                clock,
            ),
        );
        assert.equal(r.verdict, "red");
        assert.equal(r.probes.length, 2);
        assert.match(r.reasons[0], /probe 2\/5 .*: traffic too thin to judge: 7 requests in the window, at least 20 needed$/);
    });

    it("a Prometheus error or timeout is red, with the query in the reason", async () => {
        const clock = new FakeClock(T0);
        const timeout: InstantValue = {
            kind: "timeout",
            timeoutMs: 5000,
            message: "query ERR{...} at http://fake:9090/api/v1/query: no answer within 5000 ms",
        };
        const r = await runAnalysis(
            options(
                fakeClient(T0, 2, () => ({ ...GOOD, errorRatio: timeout })),
                clock,
            ),
        );
        assert.equal(r.verdict, "red");
        assert.match(r.reasons.join("\n"), /Prometheus error: query ERR\{\.\.\.\} at http:\/\/fake:9090\/api\/v1\/query: no answer within 5000 ms/);
    });

    it("resumes the same window: probes already due are evaluated at their own times, then the schedule goes on", async () => {
        // Killed and re-run 5.5 s into a 10 s window.
        const clock = new FakeClock(T0 + 5500);
        const client = fakeClient(T0, 1, () => GOOD);
        const r = await runAnalysis({ ...options(client, clock), probeIntervalSeconds: 1 });
        assert.equal(r.verdict, "green");
        assert.equal(r.probes.length, 10);
        assert.equal(r.startedAt, T0);
        const times = [...new Set(client.asked.map((a) => a.at))];
        assert.deepEqual(
            times,
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => T0 + s * 1000),
        );
        assert.deepEqual(
            r.probes.map((p) => p.late),
            [true, true, true, true, false, false, false, false, false, false],
            "probes 1-4 are more than an interval late; 5 is 0.5 s late",
        );
        assert.equal(clock.t, T0 + 10_000, "the window ends when it would have without the kill");
    });

    it("a resumed run finds a red probe from before the kill", async () => {
        const clock = new FakeClock(T0 + 60_000);
        const client = fakeClient(T0, 2, (k) => (k === 1 ? { ...GOOD, errorRatio: n(0.3) } : GOOD));
        const r = await runAnalysis(options(client, clock, { windowSeconds: 60 }));
        assert.equal(r.verdict, "red");
        assert.equal(r.probes.length, 1);
        assert.match(r.reasons[0], /probe 1\/30 .*error ratio 30% is above the threshold of 0\.5%$/);
    });

    it("is bounded in time: a Prometheus slower than the schedule allows ends red", async () => {
        const clock = new FakeClock(T0);
        // Each query takes 20 s of (fake) time, past every query timeout the run allows for.
        const client = fakeClient(
            T0,
            2,
            () => GOOD,
            () => {
                clock.t += 20_000;
            },
        );
        const r = await runAnalysis({ ...options(client, clock), queryTimeoutMs: 1000 });
        assert.equal(r.verdict, "red");
        assert.match(r.reasons[0], /ran past its time bound \(\+22s\) at probe \d\/5; Prometheus is too slow to judge/);
        assert.ok(client.asked.length <= 15, `${client.asked.length} queries`);
    });

    it("is bounded in count: a clock that never moves still ends after the window's probes", async () => {
        const frozen: Clock = { now: () => T0, sleep: async () => undefined };
        const client = fakeClient(T0, 2, () => GOOD);
        const r = await runAnalysis(options(client, frozen));
        assert.equal(r.verdict, "green");
        assert.equal(r.probes.length, 5);
    });

    it("refuses an interval longer than the window, an empty selector, and a start in the future", async () => {
        const clock = new FakeClock(T0);
        await assert.rejects(
            runAnalysis({
                ...options(
                    fakeClient(T0, 2, () => GOOD),
                    clock,
                ),
                windowSeconds: 1,
            }),
            /probeIntervalSeconds <= windowSeconds/,
        );
        await assert.rejects(
            runAnalysis({
                ...options(
                    fakeClient(T0, 2, () => GOOD),
                    clock,
                ),
                selector: {},
            }),
            /at least one label/,
        );
    });

    it("progress: the plan, then each probe's elapsed and remaining time, p95, error ratio and requests", async () => {
        const quiet = setEnv({ BLUEGREEN_QUIET: undefined });
        try {
            const clock = new FakeClock(T0);
            const { stderr } = await captureStderr(() =>
                runAnalysis(
                    options(
                        fakeClient(T0, 2, (k) => (k === 2 ? { ...GOOD, errorRatio: n(0.3) } : { ...GOOD, p95: n(0.0243) })),
                        clock,
                    ),
                ),
            );
            const lines = stderr.trim().split("\n");
            assert.equal(lines.length, 3);
            assert.match(
                lines[0],
                /analysis canary backend node 2: \{component="backend",color="green",node="2"\} for 10s, a probe every 2s over 2s; red if p95 > 0.5s, error ratio > 0.005, fewer than 20 requests, or no data$/,
            );
            assert.match(
                lines[1],
                /probe 1\/5 \+2s, 8s remaining: p95 0.0243 s, error ratio 0%, 120 requests: green \[green 1, failed 0\/0, inconclusive 0\/0\]$/,
            );
            assert.match(
                lines[2],
                /probe 2\/5 \+4s, 6s remaining: p95 0.02 s, error ratio 30%, 120 requests: red \(error ratio 30% is above the threshold of 0.5%\) \[green 1, failed 1\/0, inconclusive 0\/0\]$/,
            );
        } finally {
            quiet();
        }
    });

    it("failureLimit: 2 rides out one and two failed probes, and the third ends the window red, with the counts", async () => {
        const oneRed = await runAnalysis(
            options(
                fakeClient(T0, 2, (k) => (k === 2 ? { ...GOOD, errorRatio: n(0.3) } : GOOD)),
                new FakeClock(T0),
                { limits: { failureLimit: 2, inconclusiveLimit: 0 } },
            ),
        );
        assert.equal(oneRed.verdict, "green");
        assert.deepEqual(oneRed.reasons, [
            "canary backend node 2: 4 of 5 probes over 10s were green, within the limits (green 4, failed 1/2, inconclusive 0/0)",
        ]);
        assert.deepEqual(
            oneRed.probes.map((p) => p.outcome),
            ["green", "failed", "green", "green", "green"],
        );
        const threeRed = await runAnalysis(
            options(
                fakeClient(T0, 2, (k) => (k >= 2 ? { ...GOOD, errorRatio: n(0.3) } : GOOD)),
                new FakeClock(T0),
                { limits: { failureLimit: 2, inconclusiveLimit: 0 } },
            ),
        );
        assert.equal(threeRed.verdict, "red");
        assert.equal(threeRed.probes.length, 4, "ends at the probe that breaches the limit");
        assert.deepEqual(threeRed.probes.at(-1)!.counts, { green: 1, failed: 3, inconclusive: 0 });
        assert.match(threeRed.reasons.at(-1)!, /canary backend node 2: 3 failed probe\(s\), more than failureLimit 2$/);
    });

    it("inconclusiveLimit counts probes that cannot be judged apart from failed ones; the default 0 ends at the first", async () => {
        const thin = (k: number) => (k === 1 ? { ...GOOD, requests: n(3) } : GOOD);
        const ridden = await runAnalysis(options(fakeClient(T0, 2, thin), new FakeClock(T0), { limits: { failureLimit: 0, inconclusiveLimit: 1 } }));
        assert.equal(ridden.verdict, "green");
        assert.deepEqual(ridden.probes[0].outcome, "inconclusive");
        const strict = await runAnalysis(options(fakeClient(T0, 2, thin), new FakeClock(T0), { limits: { failureLimit: 5, inconclusiveLimit: 0 } }));
        assert.equal(strict.verdict, "red");
        assert.match(strict.reasons.at(-1)!, /1 inconclusive probe\(s\), more than inconclusiveLimit 0$/);
    });

    it("custom metrics: filled like the built-in ones, out of bounds is failed, no data inconclusive", async () => {
        const metric = (v: InstantValue) => {
            const c = fakeClient(T0, 2, () => GOOD);
            return {
                ...c,
                async query(q: string, o?: { timeMs?: number }) {
                    return q.startsWith("QUEUE") ? v : c.query(q, o);
                },
            };
        };
        const metrics = [{ name: "queue depth", query: "QUEUE{$selector}[$window]", max: 10 }];
        const over = metric(n(12));
        const red = await runAnalysis(options(over, new FakeClock(T0), { metrics }));
        assert.equal(red.verdict, "red");
        assert.equal(red.probes[0].outcome, "failed");
        assert.deepEqual(red.probes[0].metricValues, [12]);
        assert.match(red.reasons[0], /queue depth 12 is above its max of 10$/);
        const ok = metric(n(3));
        const green = await runAnalysis(options(ok, new FakeClock(T0), { metrics }));
        assert.equal(green.verdict, "green");
        const none = await runAnalysis(options(metric({ kind: "empty" }), new FakeClock(T0), { metrics }));
        assert.equal(none.probes[0].outcome, "inconclusive");
        assert.match(none.reasons[0], /queue depth: no data/);
        const min = await runAnalysis(options(metric(n(0.2)), new FakeClock(T0), { metrics: [{ name: "hit ratio", query: "QUEUE{$selector}", min: 0.9 }] }));
        assert.match(min.reasons[0], /hit ratio 0.2 is below its min of 0.9$/);
    });
});
