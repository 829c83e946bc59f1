// The progressive shift (issue 13: Argo Rollouts' and Flagger's analysis, without Kubernetes):
// the switch moves traffic to the new color by steps over the runtime API, with no reload;
// each step watches the new color's SLIs for stepSeconds and compares them with the old
// color's over the same window. Any red probe puts all traffic back on the old color at once.

import { HaproxyHost, appendHostFile, writeHostFile } from "../../io/haproxyHost";
import { serverAddress } from "../../io/incus";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";
import { prometheusClient } from "../../io/prometheus";
import { DEFAULT_GATE_TIMEOUT_SECONDS, type ProgressiveConfig } from "../../model/config";
import { prometheusServerUrl } from "../../model/rollout/prometheusConfig";
import type { Color, HaproxyLayout } from "../../model/naming";
import { lookbackSeconds } from "../../model/rollout/promql";
import { ShiftRecord, stepSplit } from "../../model/rollout/shift";
import { haproxyTarget } from "../../model/traffic/topology";
import { TrafficSplit, describeSplit } from "../../model/traffic/traffic";
import { AnalysisOptions, Clock, metricParseProblems, runAnalysis } from "./analysis";
import { RolloutRun } from "./control";
import { frontendBaseUrl, withLoad } from "../../io/load";
import { CustomMetric, ProbeLimits, describeCounts, describeProbe } from "../../model/rollout/analysis";
import { refused } from "../../model/errors";
import { AuditContext, audit } from "../safety/audit";
import { historyPath } from "../safety/history";

/** The switch's bluegreen:progressive, with where its SLIs are read. */
export interface ShiftSpec extends ProgressiveConfig {
    /** Absent with a remote: then `prometheusPort`, in the HAProxy instance, at the remote's address (known to its Incus only). */
    readonly prometheusUrl?: string;
    readonly prometheusPort?: number;
    readonly scrapeIntervalSeconds: number;
}

export function shiftRecordPath(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/shift.json`;
}

export interface ShiftRun {
    readonly spec: ShiftSpec;
    readonly from: Color;
    readonly to: Color;
    readonly release: string;
    readonly host: HaproxyHost;
    readonly layout: HaproxyLayout;
    readonly audit: AuditContext;
    /** Makes a split live: the weights, then the config on disk and the saved server state, so a restart keeps it. */
    readonly apply: (split: TrafficSplit) => Promise<void>;
    /** Where bluegreen:progressive.load enters. */
    readonly frontendPort?: number;
}

async function setSplit(r: ShiftRun, percent: number): Promise<void> {
    await r.apply(stepSplit(r.from, r.to, percent));
}

function scrapeBoundSeconds(r: ShiftRun): number {
    return Math.max(10, 5 * r.spec.scrapeIntervalSeconds);
}

/** Before the first step: Prometheus scrapes the new color, or its first probes could only say "no data". Bounded. */
async function waitScraped(r: ShiftRun, client: ReturnType<typeof prometheusClient>): Promise<void> {
    const boundMs = scrapeBoundSeconds(r) * 1000;
    const ok = await poll(
        async () => {
            const v = await client.query(`count(up{color="${r.to}"} == 1)`).catch(() => undefined);
            return v?.kind === "number" && v.value > 0 ? true : undefined;
        },
        { intervalMs: 500, timeoutMs: boundMs },
    );
    if (!ok) progress(`shift: Prometheus does not scrape ${r.to} after ${boundMs / 1000} s; the first step starts anyway, and no data is red`);
}

/**
 * Runs every step below 100%, then puts all traffic on the new color once the last one is
 * green; on red, all traffic is back on the old color when it throws. The record says
 * "shifting" until all traffic is on the new color: a shift killed before restarts from step 1.
 */
export async function runShift(r: ShiftRun): Promise<void> {
    const run = new RolloutRun(
        { host: r.host, stateDir: r.layout.stateDir, audit: r.audit },
        { kind: "shift", release: r.release, from: r.from, color: r.to },
        r.spec.gateTimeoutSeconds ?? DEFAULT_GATE_TIMEOUT_SECONDS,
    );
    try {
        await run.write({ step: "waiting for Prometheus to scrape the new color" });
        await shiftUnderControl(r, run);
        await run.finish("done");
    } finally {
        await run.close();
    }
}

/** `rollout abort` or a gate that timed out: all traffic back on the old color now. */
async function abortShift(
    r: ShiftRun,
    run: RolloutRun,
    step: number,
    percent: number,
    why: string,
    write: (rec: Omit<ShiftRecord, "from" | "to" | "release" | "steps" | "time">) => Promise<void>,
): Promise<never> {
    await setSplit(r, 0);
    progress(`shift: ${why}; all traffic is back on ${r.from}`);
    await write({ step, percent, phase: "rolledBack", reasons: [why] });
    await run.finish(run.phase === "timedOut" ? "timedOut" : "aborted", why);
    await audit(r.audit, { operation: "rollback", color: r.from, details: { kind: "shift", attempted: r.release, step, percent, why } });
    throw new Error(`progressive shift to ${r.to} (${r.release}) ${why} at step ${step} (${percent}%). All traffic is back on ${r.from}`);
}

async function shiftUnderControl(r: ShiftRun, run: RolloutRun): Promise<void> {
    const steps = r.spec.steps.filter((p) => p < 100);
    const write = (rec: Omit<ShiftRecord, "from" | "to" | "release" | "steps" | "time">) =>
        writeHostFile(
            r.host,
            shiftRecordPath(r.layout),
            JSON.stringify({ from: r.from, to: r.to, release: r.release, steps: r.spec.steps.length, ...rec, time: new Date().toISOString() }, null, 2) + "\n",
        );
    const url = r.spec.prometheusUrl ?? prometheusServerUrl(r.spec.prometheusPort!, await serverAddress(haproxyTarget(r.host)));
    const client = prometheusClient({ url });
    const lookback = Math.min(lookbackSeconds(r.spec.probeIntervalSeconds, r.spec.scrapeIntervalSeconds), r.spec.stepSeconds);
    const limits = { failureLimit: r.spec.failureLimit, inconclusiveLimit: r.spec.inconclusiveLimit };
    const metrics = r.spec.metrics ?? [];
    const bad = await metricParseProblems(client, metrics, { selector: { color: r.to }, lookbackSeconds: lookback, key: "bluegreen:canary.metrics" });
    if (bad.length > 0) {
        throw refused(
            `progressive shift to ${r.to} refused: ${bad.join("; ")}. Fix the query (its placeholders are $selector and $window), then run pulumi up again. ` +
                `All traffic is still on ${r.from}.`,
        );
    }
    // One load for every step, started before the wait for scrapes: the first probe of step 1 needs counters scraped twice.
    await withLoad(
        {
            spec: r.spec.load,
            baseUrl: () => frontendBaseUrl(r.host, r.frontendPort!),
            seconds: scrapeBoundSeconds(r) + steps.length * (r.spec.stepSeconds + r.spec.probeIntervalSeconds + 2),
            label: `shift to ${r.to}`,
        },
        () => runSteps(r, run, steps, client, write, { lookback, limits, metrics }),
    );
    await setSplit(r, 100);
    await write({ step: r.spec.steps.length, percent: 100, phase: "done" });
}

/** Every step below 100%, each judged; throws with all traffic back on the old color at the first red one. */
async function runSteps(
    r: ShiftRun,
    run: RolloutRun,
    steps: readonly number[],
    client: ReturnType<typeof prometheusClient>,
    write: (rec: Omit<ShiftRecord, "from" | "to" | "release" | "steps" | "time">) => Promise<void>,
    o: { readonly lookback: number; readonly limits: ProbeLimits; readonly metrics: readonly CustomMetric[] },
): Promise<void> {
    const { lookback, limits, metrics } = o;
    await waitScraped(r, client);
    for (const [n, percent] of steps.entries()) {
        const step = n + 1;
        const split = stepSplit(r.from, r.to, percent);
        await setSplit(r, percent);
        progress(`shift: step ${step}/${r.spec.steps.length}: ${percent}% on ${r.to} (${describeSplit(split)}), watching its SLIs for ${r.spec.stepSeconds}s`);
        await write({ step, percent, phase: "shifting" });
        await appendHostFile(
            r.host,
            historyPath(r.layout.stateDir),
            `${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")} ${describeSplit(split)} ${r.release}\n`,
        );
        await audit(r.audit, { operation: "switch", color: r.to, release: r.release, details: { step, percent, from: r.from } });
        const analysis = (startedAt: number, clock: Clock): AnalysisOptions => ({
            client,
            queries: r.spec.queries,
            selector: { color: r.to },
            baseline: { selector: { color: r.from }, limits: { maxP95Factor: r.spec.maxP95Factor, maxErrorRatioDelta: r.spec.maxErrorRatioDelta } },
            thresholds: { p95Seconds: r.spec.p95Seconds, errorRatio: r.spec.errorRatio, minRequests: r.spec.minRequests },
            windowSeconds: r.spec.stepSeconds,
            probeIntervalSeconds: r.spec.probeIntervalSeconds,
            lookbackSeconds: lookback,
            label: `shift step ${step} (${percent}% on ${r.to})`,
            ...(metrics.length > 0 ? { metrics } : {}),
            limits,
            onProbe: async (p) => {
                const counts = describeCounts(p.counts, limits);
                await write({ step, percent, phase: "shifting", lastProbe: `${p.index}/${p.total} ${p.verdict} (${p.outcome}; ${counts})` });
                await run.probe(`${p.index}/${p.total} ${p.verdict}: ${describeProbe(p)} [${counts}]`);
            },
            startedAt,
            clock,
        });
        const label = `shift step ${step}/${r.spec.steps.length} (${percent}% on ${r.to})`;
        const judged = await run.window(label, r.spec.stepSeconds * 1000, Date.now(), (s, clock) => runAnalysis(analysis(s, clock)));
        if (judged.kind === "aborted") await abortShift(r, run, step, percent, judged.why, write);
        const result = judged.kind === "judged" ? judged.result : { verdict: "green" as const, reasons: [] };
        if (judged.kind === "skipped") progress(`shift: the rest of step ${step} was skipped by \`rollout promote\``);
        if (result.verdict === "red") {
            await setSplit(r, 0);
            progress(`shift: red at step ${step}; all traffic is back on ${r.from}`);
            await write({ step, percent, phase: "rolledBack", reasons: result.reasons });
            await run.finish("rolledBack", `red at ${label}`);
            await audit(r.audit, { operation: "rollback", color: r.from, details: { kind: "shift", attempted: r.release, step, percent } });
            throw new Error(
                `progressive shift to ${r.to} (${r.release}) rolled back at step ${step} (${percent}%): ${result.reasons.join("; ")}. ` +
                    `All traffic is back on ${r.from}`,
            );
        }
        if (r.spec.promotion === "manual") {
            const gate = await run.gate(`gate after ${label} (bluegreen:progressive.promotion: manual)`);
            if (gate.kind === "aborted") await abortShift(r, run, step, percent, gate.why, write);
        }
    }
}
