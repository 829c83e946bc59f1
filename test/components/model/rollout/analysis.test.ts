import assert from "node:assert/strict";
import { ProbeResult, compareToBaseline, describeProbe, judgeProbe, probeFrom, probeSchedule } from "../../../../components/model/rollout/analysis";

const T = { p95Seconds: 0.5, errorRatio: 0.005, minRequests: 20 };
const AT = "2026-12-02T10:00:30.000Z";
const probe = (over: Partial<ProbeResult> = {}): ProbeResult => ({ at: AT, p95: 0.02, errorRatio: 0, requests: 120, errors: [], ...over });

/** Out-of-bounds values are failed probes; everything else red only says it cannot be judged. */
const FAILED = new Set([
    "p95 above the threshold",
    "p95 +Inf (beyond the last bucket)",
    "error ratio above the threshold",
    "p95 beyond the factor",
    "error ratio beyond the delta",
    "each SLI on its own: a slow p95 shows while the error ratio has no data",
]);
const expected = (name: string, reasons: string[]) =>
    reasons.length ? { verdict: "red", reasons, outcome: FAILED.has(name) ? "failed" : "inconclusive" } : { verdict: "green", reasons };

describe("analysis (pure)", () => {
    describe("judgeProbe", () => {
        const table: { name: string; p: ProbeResult; reasons: string[] }[] = [
            { name: "every SLI within bounds is green", p: probe(), reasons: [] },
            { name: "exactly at the thresholds is green", p: probe({ p95: 0.5, errorRatio: 0.005, requests: 20 }), reasons: [] },
            { name: "p95 above the threshold", p: probe({ p95: 0.8125 }), reasons: ["p95 0.813 s is above the threshold of 0.5 s"] },
            { name: "p95 +Inf (beyond the last bucket)", p: probe({ p95: Infinity }), reasons: ["p95 +Inf s is above the threshold of 0.5 s"] },
            { name: "error ratio above the threshold", p: probe({ errorRatio: 0.3 }), reasons: ["error ratio 30% is above the threshold of 0.5%"] },
            {
                name: "thin traffic",
                p: probe({ requests: 7 }),
                reasons: ["traffic too thin to judge: 7 requests in the window, at least 20 needed"],
            },
            {
                name: "thin traffic, extrapolated",
                p: probe({ requests: 19.6 }),
                reasons: ["traffic too thin to judge: 19.6 requests in the window, at least 20 needed"],
            },
            {
                name: "no data at all",
                p: { at: AT, errors: [] },
                reasons: [
                    "requests: no data (the query returned nothing, or failed)",
                    "p95: no data (the query returned nothing, or failed)",
                    "error ratio: no data (the query returned nothing, or failed)",
                ],
            },
            {
                name: "NaN (no requests in the window)",
                p: probe({ p95: NaN, errorRatio: NaN, requests: 0 }),
                reasons: [
                    "traffic too thin to judge: 0 requests in the window, at least 20 needed",
                    "p95: NaN (no requests observed in the window)",
                    "error ratio: NaN (no requests observed in the window)",
                ],
            },
            {
                name: "a Prometheus error, even with good values otherwise",
                p: probe({ errors: ["query x at http://p/api/v1/query: no answer within 5000 ms"] }),
                reasons: ["Prometheus error: query x at http://p/api/v1/query: no answer within 5000 ms"],
            },
        ];
        for (const c of table) {
            it(c.name, () => {
                const j = judgeProbe(c.p, T);
                assert.deepEqual(j, expected(c.name, c.reasons));
            });
        }
    });

    describe("probeFrom", () => {
        it("numbers and NaN become values; empty stays absent; errors and timeouts are collected", () => {
            const p = probeFrom(AT, {
                p95: { kind: "nan" },
                errorRatio: { kind: "error", message: "query e at u: HTTP 400" },
                requests: { kind: "number", value: 12 },
            });
            assert.equal(p.at, AT);
            assert.ok(Number.isNaN(p.p95));
            assert.equal("errorRatio" in p, false);
            assert.equal(p.requests, 12);
            assert.deepEqual(p.errors, ["query e at u: HTTP 400"]);
            const q = probeFrom(AT, { p95: { kind: "empty" }, errorRatio: { kind: "timeout", timeoutMs: 5, message: "t" }, requests: { kind: "empty" } });
            assert.deepEqual(q, { at: AT, errors: ["t"] });
            assert.equal(judgeProbe(q, T).verdict, "red");
        });
    });

    describe("describeProbe", () => {
        it("prints each value with its unit, and says which are missing", () => {
            assert.equal(describeProbe(probe({ p95: 0.024251, errorRatio: 0.0125, requests: 143 })), "p95 0.0243 s, error ratio 1.25%, 143 requests");
            assert.equal(describeProbe({ at: AT, p95: NaN, errors: [] }), "p95 NaN, error ratio no data, no data requests");
        });
    });

    describe("compareToBaseline", () => {
        const L = { maxP95Factor: 1.5, maxErrorRatioDelta: 0.01 };
        const table: { name: string; c: ProbeResult; b: ProbeResult; reasons: string[] }[] = [
            { name: "like the baseline is green", c: probe({ p95: 0.11, errorRatio: 0.001 }), b: probe({ p95: 0.1, errorRatio: 0.001 }), reasons: [] },
            { name: "at the factor is green", c: probe({ p95: 0.15 }), b: probe({ p95: 0.1 }), reasons: [] },
            {
                name: "p95 beyond the factor",
                c: probe({ p95: 0.4 }),
                b: probe({ p95: 0.1 }),
                reasons: ["p95 0.4 s is more than 1.5 x the baseline's 0.1 s (at most 0.15 s)"],
            },
            {
                name: "error ratio beyond the delta",
                c: probe({ errorRatio: 0.05 }),
                b: probe({ errorRatio: 0.01 }),
                reasons: ["error ratio 5% exceeds the baseline's 1% by more than 1%"],
            },
            {
                name: "baseline data missing",
                c: probe(),
                b: { at: AT, errors: [] },
                reasons: [
                    "baseline p95: no data (the query returned nothing, or failed)",
                    "baseline error ratio: no data (the query returned nothing, or failed)",
                ],
            },
            {
                name: "candidate NaN",
                c: probe({ p95: NaN }),
                b: probe(),
                reasons: ["candidate p95: NaN (no requests observed in the window)"],
            },
            {
                name: "each SLI on its own: a slow p95 shows while the error ratio has no data",
                c: probe({ p95: 0.9, errorRatio: undefined }),
                b: probe({ p95: 0.01 }),
                reasons: [
                    "candidate error ratio: no data (the query returned nothing, or failed)",
                    "p95 0.9 s is more than 1.5 x the baseline's 0.01 s (at most 0.015 s)",
                ],
            },
            {
                name: "a Prometheus error on either side",
                c: probe(),
                b: probe({ errors: ["query b at u: refused"] }),
                reasons: ["baseline: Prometheus error: query b at u: refused"],
            },
        ];
        for (const c of table) {
            it(c.name, () => assert.deepEqual(compareToBaseline(c.c, c.b, L), expected(c.name, c.reasons)));
        }
    });

    describe("probeSchedule", () => {
        it("probe k at start + k x interval, the last at the window's end", () => {
            const s = probeSchedule(1_000_000, 10, 3);
            assert.equal(s.total, 4);
            assert.deepEqual([1, 2, 3, 4].map(s.at), [1_003_000, 1_006_000, 1_009_000, 1_010_000]);
            assert.equal(probeSchedule(0, 3600, 30).total, 120);
            assert.equal(probeSchedule(0, 5, 5).total, 1);
        });

        it("refuses an interval longer than the window, or not positive", () => {
            assert.throws(() => probeSchedule(0, 5, 10), /0 < probeIntervalSeconds <= windowSeconds/);
            assert.throws(() => probeSchedule(0, 5, 0), /0 < probeIntervalSeconds <= windowSeconds/);
        });
    });
});
