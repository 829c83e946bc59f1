// The SLI analysis of a canary (seed: the canary runbook's SLI monitor): probe Prometheus
// every interval until the window ends; the first red probe ends it.
//
// Probe k is evaluated at startedAt + k x interval (the last at the window's end), with
// Prometheus's `time` parameter. So a run is resumable: given the startedAt the caller
// persisted, a re-run after a kill evaluates the probes it missed at the times they
// were due (the data is still in Prometheus), then carries on with the same schedule;
// the window is never restarted and a gap is never skipped.
//
// Bounded: at most `total` probes (window / interval); each waits at most one interval
// and each query at most the client's timeout; the whole run stops at a hard deadline
// (window + one interval + every probe's query timeouts) with a red result.

import { poll, sleep } from "../../io/poll";
import { progress } from "../../io/progress";
import {
    BaselineLimits,
    CustomMetric,
    Judgement,
    ProbeCounts,
    ProbeLimits,
    ProbeOutcome,
    ProbeResult,
    Thresholds,
    VerdictName,
    compareToBaseline,
    countProbe,
    describeCounts,
    describeMetrics,
    describeProbe,
    judgeMetrics,
    judgeProbe,
    judgementOf,
    limitBreached,
    mergeJudgements,
    outcomeOf,
    probeFrom,
    probeSchedule,
} from "../../model/rollout/analysis";
import { InstantValue, Selector, SliQueries, renderQuery, renderSelector } from "../../model/rollout/promql";

/** What the analysis needs of a Prometheus client (io/prometheus.ts's, or a fake). */
export interface SliClient {
    readonly url: string;
    query(promql: string, o?: { readonly timeMs?: number }): Promise<InstantValue>;
}

export interface Clock {
    now(): number;
    sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: Clock = { now: () => Date.now(), sleep };

export interface AnalysisOptions {
    readonly client: SliClient;
    readonly queries: SliQueries;
    /** The targets under judgement, e.g. { component: "backend", color: "green", node: "2", release: "b4c5d6e" }. */
    readonly selector: Selector;
    readonly thresholds: Thresholds;
    readonly windowSeconds: number;
    readonly probeIntervalSeconds: number;
    /**
     * `$window` of the queries. Default: the probe interval. Use lookbackSeconds() from
     * model/rollout/promql.ts for at least four scrapes. When it is longer than the time since
     * startedAt, the first probes also see data from before the start: put `release` in
     * the selector so that data is never the previous release's.
     */
    readonly lookbackSeconds?: number;
    /** Names the run in progress lines and results, e.g. "canary backend node 2". */
    readonly label: string;
    /** When the window started (ms since the epoch). Pass the persisted value to resume; default now. */
    readonly startedAt?: number;
    /** Called after each probe, e.g. to persist progress. */
    readonly onProbe?: (probe: JudgedProbe) => void | Promise<void>;
    /** Bound on one query, used for the run's hard deadline. Default 5000, the client's default. */
    readonly queryTimeoutMs?: number;
    /** Tests pass a fake clock. */
    readonly clock?: Clock;
    /**
     * Also judge the targets against these, over the same window (a progressive shift: both
     * colors take live traffic at once). Red when they are worse by more than the limits.
     */
    readonly baseline?: { readonly selector: Selector; readonly limits: BaselineLimits };
    /** bluegreen:canary.metrics: judged on the same selector and lookback as the built-in SLIs. */
    readonly metrics?: readonly CustomMetric[];
    /** How many failed and inconclusive probes the window rides out; default none. */
    readonly limits?: ProbeLimits;
}

export interface JudgedProbe extends ProbeResult, Judgement {
    /** 1-based. */
    readonly index: number;
    readonly total: number;
    /** Evaluated later than due (a resumed run catching up). */
    readonly late: boolean;
    readonly outcome: ProbeOutcome;
    /** The window's counts, this probe included. */
    readonly counts: ProbeCounts;
    /** The custom metrics' values, in bluegreen:canary.metrics order (undefined: no data). */
    readonly metricValues?: readonly (number | undefined)[];
}

export interface AnalysisResult {
    readonly verdict: VerdictName;
    readonly probes: readonly JudgedProbe[];
    /** Why it is red, each naming the probe and its values; for green, one summary line. */
    readonly reasons: readonly string[];
    readonly startedAt: number;
}

/** Pure: `+90s`. */
function offset(ms: number): string {
    return `+${Math.round(ms / 1000)}s`;
}

/** Pure: the first red probe's reasons, each naming the probe and its values. */
export function redReasons(label: string, p: JudgedProbe, startedAt: number): string[] {
    const head = `${label}: probe ${p.index}/${p.total} at ${p.at} (${offset(Date.parse(p.at) - startedAt)}) is red (${describeProbe(p)})`;
    return p.reasons.map((r) => `${head}: ${r}`);
}

/** Pure: an absolute and a relative judgement as one; the relative reasons name what they compare with. */
function combine(abs: Judgement, rel: Judgement, against: string): Judgement {
    return mergeJudgements(abs, { ...rel, reasons: rel.reasons.map((r) => `${r} ${against}`) });
}

export async function runAnalysis(o: AnalysisOptions): Promise<AnalysisResult> {
    const clock = o.clock ?? REAL_CLOCK;
    const startedAt = o.startedAt ?? clock.now();
    const schedule = probeSchedule(startedAt, o.windowSeconds, o.probeIntervalSeconds);
    const lookback = o.lookbackSeconds ?? Math.ceil(o.probeIntervalSeconds);
    const render = (t: string) => renderQuery(t, { selector: o.selector, windowSeconds: lookback });
    const queries = { p95: render(o.queries.p95), errorRatio: render(o.queries.errorRatio), requests: render(o.queries.requests) };
    const base = o.baseline;
    const renderBase = (t: string) => renderQuery(t, { selector: base!.selector, windowSeconds: lookback });
    const baseQueries = base && { p95: renderBase(o.queries.p95), errorRatio: renderBase(o.queries.errorRatio), requests: renderBase(o.queries.requests) };
    const intervalMs = o.probeIntervalSeconds * 1000;
    if (startedAt > clock.now() + intervalMs) {
        // Each wait is at most one interval, so a start further ahead would probe before the probes are due.
        throw new Error(`${o.label}: the analysis's startedAt ${new Date(startedAt).toISOString()} is in the future; pass the time the window started`);
    }
    const queryTimeoutMs = o.queryTimeoutMs ?? 5000;
    const deadline = Math.max(clock.now(), startedAt + o.windowSeconds * 1000) + intervalMs + schedule.total * (queryTimeoutMs + 1000);
    const t = o.thresholds;
    const limits: ProbeLimits = o.limits ?? { failureLimit: 0, inconclusiveLimit: 0 };
    const metrics = o.metrics ?? [];
    const metricQueries = metrics.map((m) => render(m.query));
    let counts: ProbeCounts = { green: 0, failed: 0, inconclusive: 0 };

    const elapsed = clock.now() - startedAt;
    const due = [...Array(schedule.total).keys()].filter((i) => schedule.at(i + 1) <= clock.now()).length;
    progress(
        `analysis ${o.label}: {${renderSelector(o.selector)}} for ${o.windowSeconds}s, a probe every ${o.probeIntervalSeconds}s over ${lookback}s; ` +
            `red if p95 > ${t.p95Seconds}s, error ratio > ${t.errorRatio}, fewer than ${t.minRequests} requests, or no data` +
            (base
                ? `, or p95 > ${base.limits.maxP95Factor} x {${renderSelector(base.selector)}}'s, or its error ratio + ${base.limits.maxErrorRatioDelta}`
                : "") +
            metrics.map((m) => `, or ${m.name}${m.max !== undefined ? ` > ${m.max}` : ""}${m.min !== undefined ? ` < ${m.min}` : ""}`).join("") +
            (limits.failureLimit > 0 || limits.inconclusiveLimit > 0
                ? `; the window rides out ${limits.failureLimit} failed and ${limits.inconclusiveLimit} inconclusive probe(s)`
                : "") +
            (due > 0 ? `; resuming at ${offset(elapsed)}: the ${due} probe(s) already due are evaluated at their own times first` : ""),
    );

    const probes: JudgedProbe[] = [];
    let k = 1;
    const outcome = await poll(
        async (): Promise<AnalysisResult | undefined> => {
            const at = schedule.at(k);
            const wait = at - clock.now();
            if (wait > 0) await clock.sleep(Math.min(wait, intervalMs));
            if (clock.now() > deadline) {
                return {
                    verdict: "red",
                    probes,
                    startedAt,
                    reasons: [
                        `${o.label}: the analysis ran past its time bound (${offset(deadline - startedAt)}) at probe ${k}/${schedule.total}; Prometheus is too slow to judge`,
                    ],
                };
            }
            const late = clock.now() - at > intervalMs;
            const [p95, errorRatio, requests] = await Promise.all([
                o.client.query(queries.p95, { timeMs: at }),
                o.client.query(queries.errorRatio, { timeMs: at }),
                o.client.query(queries.requests, { timeMs: at }),
            ]);
            const result = probeFrom(new Date(at).toISOString(), { p95, errorRatio, requests });
            let judgement = judgeProbe(result, t);
            if (baseQueries) {
                const [bp95, bErr, bReq] = await Promise.all([
                    o.client.query(baseQueries.p95, { timeMs: at }),
                    o.client.query(baseQueries.errorRatio, { timeMs: at }),
                    o.client.query(baseQueries.requests, { timeMs: at }),
                ]);
                const baseline = probeFrom(new Date(at).toISOString(), { p95: bp95, errorRatio: bErr, requests: bReq });
                const rel = compareToBaseline(result, baseline, base!.limits);
                judgement = combine(judgement, rel, `against {${renderSelector(base!.selector)}} (${describeProbe(baseline)})`);
            }
            let metricValues: (number | undefined)[] | undefined;
            if (metrics.length > 0) {
                const answers = await Promise.all(metricQueries.map((q) => o.client.query(q, { timeMs: at })));
                metricValues = answers.map((a) => (a.kind === "number" ? a.value : a.kind === "nan" ? NaN : undefined));
                const errors = answers.flatMap((a) => (a.kind === "error" || a.kind === "timeout" ? [`Prometheus error: ${a.message}`] : []));
                // An error is inconclusive, as for the built-in SLIs; its value then also reads "no data".
                judgement = mergeJudgements(judgement, judgementOf(errors, false), judgeMetrics(metrics, metricValues));
            }
            const outcome = outcomeOf(judgement);
            counts = countProbe(counts, outcome);
            const judged: JudgedProbe = {
                ...result,
                ...judgement,
                index: k,
                total: schedule.total,
                late,
                outcome,
                counts,
                ...(metricValues ? { metricValues } : {}),
            };
            probes.push(judged);
            const breach = limitBreached(counts, limits);
            const remaining = Math.max(0, startedAt + o.windowSeconds * 1000 - clock.now());
            progress(
                `analysis ${o.label}: probe ${k}/${schedule.total} ${offset(at - startedAt)}${late ? " (catching up)" : ""}, ` +
                    `${Math.round(remaining / 1000)}s remaining: ${describeProbe(judged)}` +
                    (metricValues ? `, ${describeMetrics(metrics, metricValues)}` : "") +
                    `: ${outcome === "green" ? "green" : outcome === "failed" ? "red" : "red, inconclusive"}` +
                    (judged.verdict === "red" ? ` (${judged.reasons.join("; ")})` : "") +
                    ` [${describeCounts(counts, limits)}]`,
            );
            await o.onProbe?.(judged);
            if (breach) {
                const within = limits.failureLimit > 0 || limits.inconclusiveLimit > 0;
                return {
                    verdict: "red",
                    probes,
                    startedAt,
                    reasons: [...redReasons(o.label, judged, startedAt), ...(within ? [`${o.label}: ${breach}`] : [])],
                };
            }
            if (k === schedule.total) {
                return {
                    verdict: "green",
                    probes,
                    startedAt,
                    reasons: [
                        counts.green === schedule.total
                            ? `${o.label}: all ${schedule.total} probes over ${o.windowSeconds}s were green`
                            : `${o.label}: ${counts.green} of ${schedule.total} probes over ${o.windowSeconds}s were green, within the limits (${describeCounts(counts, limits)})`,
                    ],
                };
            }
            k += 1;
            return undefined;
        },
        // Count-bounded by the schedule; poll pauses 1 ms, each step waits for its own probe's time.
        { attempts: schedule.total, intervalMs: 1 },
    );
    return outcome ?? { verdict: "red", probes, startedAt, reasons: [`${o.label}: the analysis ended without a verdict`] };
}

/**
 * Before anything is touched: Prometheus's own parser on each custom metric, filled in as a
 * probe fills it. A parse error (HTTP 400, bad_data) is a refusal naming the metric; any
 * other answer (no data, even an unreachable server) is left to the probes, where it is red.
 */
export async function metricParseProblems(
    client: SliClient,
    metrics: readonly CustomMetric[],
    o: { readonly selector: Selector; readonly lookbackSeconds: number; readonly key: string },
): Promise<string[]> {
    const answers = await Promise.all(metrics.map((m) => client.query(renderQuery(m.query, { selector: o.selector, windowSeconds: o.lookbackSeconds }))));
    return answers.flatMap((a, i) =>
        a.kind === "error" && (a.status === 400 || /\(bad_data\)/.test(a.message))
            ? [`${o.key}[${i}] (${metrics[i].name}): Prometheus cannot parse it: ${a.message}`]
            : [],
    );
}
