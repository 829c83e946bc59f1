// Benchmark: the progressive shift. Over real Incus, HAProxy, Prometheus and wrk load:
// - fault to 100% on the old color: a release whose 5xx ratio breaches the threshold is
//   shifted to; from the first answer the new color gives through the frontend to the last
//   one. Compared with one probe interval plus one scrape interval.
// - the share of requests the bad release answered from the fault to the rollback, against an
//   all-at-once switch to the same release measured over a window just as long.
//
//   npm run bench:shift -- [--runs 3] [--out bench/results/shift.json]
//
// Stack `e2e-benchs`, ports from 22200.

import * as path from "path";
import { ColorProbe, startLoad } from "../harness/load";
import { TestStack } from "../harness/stack";
import { arg, endWithPrometheus, machine, median, resetWithPrometheus, runMain, writeResult } from "./common";

const GOOD = "a5a50001";
const FAULTY = "fa5a0002";
const PROBE_S = 2;
const SCRAPE_S = 1;
const STEP_S = 6;
const STEPS = [10, 25, 50, 100];

/** Pure: the span the new color answered in, and its share of the answers in that span. */
export function exposure(samples: readonly { at: number; color: string }[], color: string): { firstAt?: number; lastAt?: number; share: number } {
    const hits = samples.filter((s) => s.color === color);
    if (hits.length === 0) return { share: 0 };
    const firstAt = hits[0]!.at;
    const lastAt = hits.at(-1)!.at;
    const inside = samples.filter((s) => s.at >= firstAt && s.at <= lastAt);
    return { firstAt, lastAt, share: hits.length / inside.length };
}

async function main(): Promise<void> {
    const runs = Number(arg("runs", "3"));
    const out = arg("out", path.join(__dirname, "results", "shift.json"));
    const s = new TestStack({ name: "benchs", basePort: 22200 });
    const promDir = await resetWithPrometheus(s);
    s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
    s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: SCRAPE_S };
    const progressive = { steps: STEPS, stepSeconds: STEP_S, probeIntervalSeconds: PROBE_S, minRequests: 3, errorRatio: 0.05 };
    s.config.progressive = progressive;
    await s.publishOne("web", GOOD);
    await s.publishOne("web", FAULTY, "errors");
    s.setColors({ blue: GOOD, green: FAULTY }, "blue");
    await s.upOk();
    const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 10 });
    const shifts: { faultToOldMs: number; badShare: number }[] = [];
    let allAtOnceShare = 0;
    try {
        for (let k = 0; k < runs; k++) {
            // Shifted: rolled back by the first step's analysis; blue keeps serving.
            s.config.active = "green";
            const probe = new ColorProbe(`http://127.0.0.1:${s.frontendPort}/`, 3);
            const r = await s.up();
            await probe.stop();
            if (r.code === 0) throw new Error(`the faulty release was not rolled back:\n${r.stderr}`);
            const shifted = exposure(probe.samples(), "green");
            if (shifted.firstAt === undefined) throw new Error(`green never answered:\n${r.stderr}`);
            s.config.active = "blue";
            await s.upOk();
            shifts.push({ faultToOldMs: shifted.lastAt! - shifted.firstAt, badShare: shifted.share });
            console.log(
                `run ${k + 1}: fault to 100% on blue ${shifts.at(-1)!.faultToOldMs} ms; the bad release answered ${(100 * shifted.share).toFixed(1)}% of requests then`,
            );
        }
        // All at once (last: going back to it afterwards would be a fast rollback, never shifted),
        // watched for as long as the median shift exposed the bad release.
        const spanMs = median(shifts.map((f) => f.faultToOldMs));
        delete s.config.progressive;
        s.config.active = "green";
        const probe = new ColorProbe(`http://127.0.0.1:${s.frontendPort}/`, 3);
        await s.upOk();
        await new Promise((res) => setTimeout(res, spanMs));
        await probe.stop();
        const from = probe.samples().find((x) => x.color === "green")?.at ?? Date.now();
        const window = probe.samples().filter((x) => x.at >= from && x.at <= from + spanMs);
        allAtOnceShare = window.length ? window.filter((x) => x.color === "green").length / window.length : 0;
        console.log(`all at once: the bad release answered ${(100 * allAtOnceShare).toFixed(1)}% of requests over ${spanMs} ms`);
    } finally {
        await endWithPrometheus(s, promDir, load);
    }
    const result = {
        date: new Date().toISOString(),
        machine: machine(),
        shift: { steps: STEPS, stepSeconds: STEP_S, probeIntervalSeconds: PROBE_S, scrapeIntervalSeconds: SCRAPE_S },
        faultToOldMs: {
            runs: shifts.map((f) => f.faultToOldMs),
            median: median(shifts.map((f) => f.faultToOldMs)),
            probePlusScrapeMs: (PROBE_S + SCRAPE_S) * 1000,
        },
        badShare: { runs: shifts.map((f) => f.badShare), median: median(shifts.map((f) => f.badShare)) },
        allAtOnceShare,
    };
    writeResult(out, result);
}

runMain(module, main);
