// Judging SLI probes, after Argo Rollouts' AnalysisRun: a run is a series of probes, and
// the first red probe fails it (Argo's failureLimit: 0). Unlike Argo's and Flagger's
// defaults, a probe that cannot be judged is red, never green: NaN, no data, a
// Prometheus error or a timeout, and a window with too little traffic to mean anything
// (both are criticised for passing empty results: fluxcd/flagger#1035, #361). Pure.

import { InstantValue } from "./promql";

/** One probe: the values Prometheus gave at `at`, and the errors that kept any from coming. */
export interface ProbeResult {
    /** When the probe was evaluated (ISO 8601). */
    readonly at: string;
    /** Seconds; NaN when Prometheus answered NaN; absent when it had no data or failed. */
    readonly p95?: number;
    /** 0..1; NaN and absent as for p95. */
    readonly errorRatio?: number;
    /** Requests in the probe's lookback window. */
    readonly requests?: number;
    /** Prometheus errors and timeouts, each naming its query and server. */
    readonly errors: readonly string[];
}

export interface Thresholds {
    /** Red when p95 is above this. */
    readonly p95Seconds: number;
    /** Red when the error ratio is above this. */
    readonly errorRatio: number;
    /** Red when the window holds fewer requests: traffic too thin to judge. */
    readonly minRequests: number;
}

export type VerdictName = "green" | "red";

/**
 * Argo's AnalysisRun measurement phases: a red probe is `failed` when a value is out of
 * bounds, else `inconclusive` (no data, NaN, a Prometheus error, traffic too thin).
 */
export type ProbeOutcome = "green" | "failed" | "inconclusive";

export interface Judgement {
    readonly verdict: VerdictName;
    /** Why it is red; empty when green. */
    readonly reasons: readonly string[];
    /** Absent: `failed` when red (a judgement made before outcomes existed). */
    readonly outcome?: ProbeOutcome;
}

/** Pure: a judgement's outcome. */
export function outcomeOf(j: Judgement): ProbeOutcome {
    return j.verdict === "green" ? "green" : (j.outcome ?? "failed");
}

/** Pure: a judgement from its reasons; `failed` when any is a value out of bounds, else they only say it cannot be judged. */
export function judgementOf(reasons: readonly string[], failed: boolean): Judgement {
    if (reasons.length === 0) return { verdict: "green", reasons };
    return { verdict: "red", reasons, outcome: failed ? "failed" : "inconclusive" };
}

/** Pure: a probe from the three answers. Empty answers leave the value absent. */
export function probeFrom(
    at: string,
    answers: { readonly p95: InstantValue; readonly errorRatio: InstantValue; readonly requests: InstantValue },
): ProbeResult {
    const errors: string[] = [];
    const value = (a: InstantValue): number | undefined => {
        if (a.kind === "number") return a.value;
        if (a.kind === "nan") return NaN;
        if (a.kind === "error" || a.kind === "timeout") errors.push(a.message);
        return undefined;
    };
    const p95 = value(answers.p95);
    const errorRatio = value(answers.errorRatio);
    const requests = value(answers.requests);
    return {
        at,
        ...(p95 !== undefined ? { p95 } : {}),
        ...(errorRatio !== undefined ? { errorRatio } : {}),
        ...(requests !== undefined ? { requests } : {}),
        errors,
    };
}

/** Pure: `0.0231 s`. */
export function formatSeconds(s: number | undefined): string {
    if (s === undefined) return "no data";
    if (!Number.isFinite(s)) return Number.isNaN(s) ? "NaN" : `${s > 0 ? "+" : "-"}Inf s`;
    return `${Number(s.toPrecision(3))} s`;
}

/** Pure: `1.25%`. */
export function formatRatio(r: number | undefined): string {
    if (r === undefined) return "no data";
    if (!Number.isFinite(r)) return Number.isNaN(r) ? "NaN" : String(r);
    return `${Number((r * 100).toPrecision(3))}%`;
}

/** Pure: `7`, or `19.6` (increase() extrapolates, so counts are rarely whole). */
export function formatCount(n: number | undefined): string {
    if (n === undefined) return "no data";
    if (!Number.isFinite(n)) return String(n);
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Pure: one line for progress output. */
export function describeProbe(p: ProbeResult): string {
    return `p95 ${formatSeconds(p.p95)}, error ratio ${formatRatio(p.errorRatio)}, ${formatCount(p.requests)} requests`;
}

/** The reason a value cannot be judged, or undefined when it can. */
function unjudgeable(name: string, v: number | undefined, nanMeans: string): string | undefined {
    if (v === undefined) return `${name}: no data (the query returned nothing, or failed)`;
    if (Number.isNaN(v)) return `${name}: NaN (${nanMeans})`;
    return undefined;
}

const NAN_NO_TRAFFIC = "no requests observed in the window";

/** Pure: green only when every SLI has a value, traffic is thick enough and all are within bounds. */
export function judgeProbe(p: ProbeResult, t: Thresholds): Judgement {
    const reasons: string[] = [...p.errors.map((e) => `Prometheus error: ${e}`)];
    let failed = false;
    const fail = (r: string) => {
        failed = true;
        reasons.push(r);
    };
    const requests = unjudgeable("requests", p.requests, NAN_NO_TRAFFIC);
    if (requests) reasons.push(requests);
    else if (p.requests! < t.minRequests) {
        reasons.push(`traffic too thin to judge: ${formatCount(p.requests)} requests in the window, at least ${t.minRequests} needed`);
    }
    const p95 = unjudgeable("p95", p.p95, NAN_NO_TRAFFIC);
    if (p95) reasons.push(p95);
    else if (p.p95! > t.p95Seconds) fail(`p95 ${formatSeconds(p.p95)} is above the threshold of ${formatSeconds(t.p95Seconds)}`);
    const ratio = unjudgeable("error ratio", p.errorRatio, NAN_NO_TRAFFIC);
    if (ratio) reasons.push(ratio);
    else if (p.errorRatio! > t.errorRatio) fail(`error ratio ${formatRatio(p.errorRatio)} is above the threshold of ${formatRatio(t.errorRatio)}`);
    return judgementOf(reasons, failed);
}

export interface BaselineLimits {
    /** Red when the candidate's p95 is more than this many times the baseline's (e.g. 1.5). */
    readonly maxP95Factor: number;
    /** Red when the candidate's error ratio exceeds the baseline's by more than this (e.g. 0.01 = one point). */
    readonly maxErrorRatioDelta: number;
}

/**
 * Pure: the candidate judged against a baseline measured over the same window (for
 * progressive shifts). Missing or NaN data on either side is red: a comparison with
 * nothing proves nothing. This is relative only; judge the candidate with judgeProbe too.
 */
export function compareToBaseline(candidate: ProbeResult, baseline: ProbeResult, limits: BaselineLimits): Judgement {
    const reasons: string[] = [
        ...candidate.errors.map((e) => `candidate: Prometheus error: ${e}`),
        ...baseline.errors.map((e) => `baseline: Prometheus error: ${e}`),
    ];
    const sides = [
        ["candidate", candidate],
        ["baseline", baseline],
    ] as const;
    // Each SLI is compared on its own: a latency regression shows even while the error counts are too thin.
    const p95s = sides.map(([name, p]) => unjudgeable(`${name} p95`, p.p95, NAN_NO_TRAFFIC));
    const ratios = sides.map(([name, p]) => unjudgeable(`${name} error ratio`, p.errorRatio, NAN_NO_TRAFFIC));
    for (const r of [...p95s, ...ratios]) if (r) reasons.push(r);
    const unknowns = reasons.length;
    if (!p95s.some(Boolean) && candidate.p95! > baseline.p95! * limits.maxP95Factor) {
        reasons.push(
            `p95 ${formatSeconds(candidate.p95)} is more than ${limits.maxP95Factor} x the baseline's ${formatSeconds(baseline.p95)} ` +
                `(at most ${formatSeconds(baseline.p95! * limits.maxP95Factor)})`,
        );
    }
    if (!ratios.some(Boolean) && candidate.errorRatio! - baseline.errorRatio! > limits.maxErrorRatioDelta) {
        reasons.push(
            `error ratio ${formatRatio(candidate.errorRatio)} exceeds the baseline's ${formatRatio(baseline.errorRatio)} ` +
                `by more than ${formatRatio(limits.maxErrorRatioDelta)}`,
        );
    }
    return judgementOf(reasons, reasons.length > unknowns);
}

/** The probes of a run: probe k (1-based) is evaluated at startedAt + k x interval, the last at the window's end. */
export interface ProbeSchedule {
    readonly total: number;
    /** Evaluation time (ms since the epoch) of probe k, for k = 1..total. */
    at(k: number): number;
}

/** Pure: the schedule of a window. */
export function probeSchedule(startedAtMs: number, windowSeconds: number, probeIntervalSeconds: number): ProbeSchedule {
    if (!(probeIntervalSeconds > 0) || !(windowSeconds >= probeIntervalSeconds)) {
        throw new Error(`an analysis needs 0 < probeIntervalSeconds <= windowSeconds, got ${probeIntervalSeconds} and ${windowSeconds}`);
    }
    const total = Math.ceil(windowSeconds / probeIntervalSeconds - 1e-9);
    const end = startedAtMs + windowSeconds * 1000;
    return { total, at: (k) => Math.min(startedAtMs + k * probeIntervalSeconds * 1000, end) };
}

/** bluegreen:canary.metrics: a custom SLI, a PromQL template with the built-in placeholders. */
export interface CustomMetric {
    readonly name: string;
    readonly query: string;
    /** Red (failed) when the value is above. */
    readonly max?: number;
    /** Red (failed) when the value is below. */
    readonly min?: number;
}

/** Pure: the custom metrics' values judged: out of bounds is failed, no data or NaN inconclusive. */
export function judgeMetrics(metrics: readonly CustomMetric[], values: readonly (number | undefined)[]): Judgement {
    const reasons: string[] = [];
    let failed = false;
    metrics.forEach((m, i) => {
        const v = values[i];
        const why = unjudgeable(m.name, v, "the query divided nothing by nothing");
        if (why) return void reasons.push(why);
        if (m.max !== undefined && v! > m.max) {
            failed = true;
            reasons.push(`${m.name} ${formatNumber(v!)} is above its max of ${formatNumber(m.max)}`);
        }
        if (m.min !== undefined && v! < m.min) {
            failed = true;
            reasons.push(`${m.name} ${formatNumber(v!)} is below its min of ${formatNumber(m.min)}`);
        }
    });
    return judgementOf(reasons, failed);
}

/** Pure: several judgements of one probe as one (failed beats inconclusive). */
export function mergeJudgements(...js: readonly Judgement[]): Judgement {
    const reasons = js.flatMap((j) => j.reasons);
    return judgementOf(
        reasons,
        js.some((j) => outcomeOf(j) === "failed"),
    );
}

/** Pure: `0.0123`, `+Inf`. */
export function formatNumber(n: number): string {
    if (!Number.isFinite(n)) return Number.isNaN(n) ? "NaN" : n > 0 ? "+Inf" : "-Inf";
    return String(Number(n.toPrecision(4)));
}

/** Pure: `name 0.012, other no data`. */
export function describeMetrics(metrics: readonly CustomMetric[], values: readonly (number | undefined)[]): string {
    return metrics.map((m, i) => `${m.name} ${values[i] === undefined ? "no data" : formatNumber(values[i]!)}`).join(", ");
}

/** Argo's AnalysisRun limits: how many failed and inconclusive probes a window rides out. */
export interface ProbeLimits {
    /** Default 0: the first failed probe ends the window red. */
    readonly failureLimit: number;
    /** Default 0: the first probe that cannot be judged ends the window red. */
    readonly inconclusiveLimit: number;
}

export interface ProbeCounts {
    readonly green: number;
    readonly failed: number;
    readonly inconclusive: number;
}

/** Pure: the counts after one more probe. */
export function countProbe(c: ProbeCounts, o: ProbeOutcome): ProbeCounts {
    return { ...c, [o]: c[o] + 1 };
}

/** Pure: why the window is red once the counts exceed a limit; undefined while they do not. */
export function limitBreached(c: ProbeCounts, l: ProbeLimits): string | undefined {
    if (c.failed > l.failureLimit) return `${c.failed} failed probe(s), more than failureLimit ${l.failureLimit}`;
    if (c.inconclusive > l.inconclusiveLimit) return `${c.inconclusive} inconclusive probe(s), more than inconclusiveLimit ${l.inconclusiveLimit}`;
    return undefined;
}

/** Pure: `failed 1/2, inconclusive 0/0` (count / limit), for progress and status. */
export function describeCounts(c: ProbeCounts, l: ProbeLimits): string {
    return `green ${c.green}, failed ${c.failed}/${l.failureLimit}, inconclusive ${c.inconclusive}/${l.inconclusiveLimit}`;
}
