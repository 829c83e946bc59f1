// Benchmark: the canary. Two figures, over real Incus, HAProxy, Prometheus and wrk load:
// - fault to last-known-good: a release whose 5xx ratio breaches the threshold is canaried;
//   from the first response the faulty canary node gives through the frontend to the first
//   response that node gives on the last-known-good release again. Target (issue 10): at
//   most probe interval + scrape interval + 2 s.
// - the cost of a canary over a plain in-place install of the same pool: a good release's
//   whole `up`, split into the installs themselves (drain, push, restart, health, ready, from
//   the progress lines) and the rest (pre-flight, Prometheus scrape wait, the SLI window).
// - abort to last-known-good: `rollout abort` mid-window; from the verb's control record to
//   the canary node's first answer on the last-known-good through the frontend. Target
//   (issue 23): under probe interval + 2 s.
// - the undo: after a finished canary, the release set back to its last-known-good: the
//   whole `up`, and the undo itself (the progress line's figure): no window, 3 nodes swapped
//   back to the release kept unpacked beside the running one.
//
//   npm run bench:canary -- [--runs 3] [--out bench/results/canary.json]
//
// Stack `e2e-benchc`, ports from 21800.

import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { startLoad } from "../harness/load";
import { TestStack } from "../harness/stack";
import { arg, endWithPrometheus, machine, median, resetWithPrometheus, runMain, writeResult } from "./common";

const GOOD = ["aa0c0001", "bb0c0002", "cc0c0003", "dd0c0004", "ee0c0005", "ff0c0006"];
const FAULTY = "fa0c0007";
/** Canaried, then aborted by `rollout abort` (each is rejected after, so one per run). */
const ABORTED = ["ab0c0008", "ab0c0009", "ab0c000a", "ab0c000b", "ab0c000c"];
const PROBE_S = 2;
const SCRAPE_S = 1;
const WINDOW_S = 6;

function get(port: number): Promise<{ node?: string; release?: string }> {
    return new Promise((resolve) => {
        const req = http.get(`http://127.0.0.1:${port}/`, { agent: false, timeout: 2000, headers: { connection: "close" } }, (res) => {
            res.resume();
            res.on("end", () => resolve({ node: res.headers["x-node"] as string, release: res.headers["x-release"] as string }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve({}));
    });
}

/** Milliseconds of a progress line's HH:MM:SS.mmm, today. */
function lineMs(line: string): number | undefined {
    const m = /\[bluegreen\] (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(line);
    return m ? ((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1000 + +m[4] : undefined;
}

/** Pure: the time the installs themselves took, from `installing` to `serves through HAProxy` of each node. */
export function installMs(stderr: string): number {
    let total = 0;
    const open = new Map<string, number>();
    for (const line of stderr.split("\n")) {
        const t = lineMs(line);
        if (t === undefined) continue;
        const start = /\] \S+ (\S+): installing /.exec(line);
        if (start) open.set(start[1], t);
        const done = /\] \S+ (\S+): \S+ serves through HAProxy/.exec(line);
        if (done && open.has(done[1])) {
            total += t - open.get(done[1])!;
            open.delete(done[1]);
        }
    }
    return total;
}

/**
 * Watches the frontend until node 3 answers on `good` after it answered on `bad`; returns
 * when each was first seen. `stop()` ends it (bounded either way).
 */
function watchNode3(port: number, bad: string, good: string) {
    let faultAt: number | undefined;
    let backAt: number | undefined;
    let watching = true;
    const done = (async () => {
        for (let i = 0; watching && i < 20_000; i++) {
            const a = await get(port);
            const now = Date.now();
            if (a.release === bad && faultAt === undefined) faultAt = now;
            if (faultAt !== undefined && backAt === undefined && a.node === "3" && a.release === good) backAt = now;
            await new Promise((res) => setTimeout(res, 10));
        }
    })();
    return {
        seen: () => ({ faultAt, backAt }),
        async stop() {
            // The node may first answer on the last-known-good just after the up ends.
            for (let i = 0; backAt === undefined && i < 100; i++) await new Promise((res) => setTimeout(res, 50));
            watching = false;
            await done;
            return { faultAt, backAt };
        },
    };
}

/** Resolves when `re` shows in the text `text()` returns (polled; bounded). */
async function waitText(text: () => string, re: RegExp, timeoutMs = 120_000): Promise<void> {
    for (const end = Date.now() + timeoutMs; Date.now() < end;) {
        if (re.test(text())) return;
        await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error(`${re} not seen within ${timeoutMs} ms:\n${text()}`);
}

async function main(): Promise<void> {
    const runs = Number(arg("runs", "3"));
    const out = arg("out", path.join(__dirname, "results", "canary.json"));
    const s = new TestStack({ name: "benchc", basePort: 21800 });
    const promDir = await resetWithPrometheus(s);
    s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 3 } };
    s.config.haproxy = { ...s.config.haproxy, settleMs: 15000 };
    s.config.canary = { windowSeconds: WINDOW_S, probeIntervalSeconds: PROBE_S, minRequests: 5, healthTimeoutSeconds: 15, errorRatio: 0.05 };
    s.config.prometheus = { port: s.frontendPort + 5, scrapeIntervalSeconds: SCRAPE_S };
    for (const r of [...GOOD, ...ABORTED]) await s.publish(r);
    await s.publish(FAULTY, "errors");
    const faults: number[] = [];
    const canaries: { totalMs: number; installMs: number }[] = [];
    const aborts: number[] = [];
    const undos: { upMs: number; undoMs: number }[] = [];
    s.setColors({ blue: GOOD[0] }, "blue");
    await s.upOk();
    // wrk gives up on a frontend that is not there yet: the load starts after the deploy.
    const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}/`, connections: 2, threads: 1, keepAlive: true, pauseMs: 20 });
    try {
        let good = GOOD[0];
        for (let k = 0; k < runs; k++) {
            // A good release: the canary's own cost.
            const previous = good;
            good = GOOD[k + 1];
            s.setColors({ blue: good }, "blue");
            const t0 = Date.now();
            const r = await s.up();
            if (r.code !== 0) throw new Error(`canary of ${good} failed:\n${r.stderr}`);
            canaries.push({ totalMs: Date.now() - t0, installMs: installMs(r.stderr) });

            // The undo: back to the finished canary's last-known-good, then the good one again (a canary: an undo is never undone).
            s.setColors({ blue: previous }, "blue");
            const u0 = Date.now();
            const u = await s.up();
            if (u.code !== 0 || !/canary: undo: /.test(u.stderr)) throw new Error(`the undo to ${previous} failed or was not an undo:\n${u.stderr}`);
            undos.push({ upMs: Date.now() - u0, undoMs: Number(/runs on every node of blue again in (\d+) ms/.exec(u.stderr)?.[1] ?? NaN) });
            s.setColors({ blue: good }, "blue");
            await s.upOk();

            // `rollout abort` mid-window: the canary node back on the last-known-good.
            const aborted = ABORTED[k];
            s.setColors({ blue: aborted }, "blue");
            // A window long enough for the verb's own start-up (ts-node, 2-5 s here) to land inside it.
            const canary = s.config.canary;
            s.config.canary = { ...canary, windowSeconds: 60 };
            let err = "";
            const up = s.start(["up", "--json"], (all) => (err = all));
            const w = watchNode3(s.frontendPort, aborted, good);
            await waitText(() => err, /analysis canary .*: probe 1\//);
            const v = await s.run(["rollout", "abort", "-m", "bench"]);
            if (v.code !== 0) throw new Error(`rollout abort failed:\n${v.stderr}`);
            const verbAt = Date.parse(JSON.parse(fs.readFileSync(path.join(s.haproxyDir, "rollout-control.json"), "utf8")).aborted.at);
            const a = await up.done;
            const seen = await w.stop();
            if (a.code === 0 || seen.backAt === undefined) throw new Error(`the abort was not seen (back ${seen.backAt}):\n${a.stderr}`);
            aborts.push(seen.backAt - verbAt);
            s.config.canary = canary;
            s.setColors({ blue: good }, "blue");
            await s.upOk();

            // The faulty one: watch the frontend while it is canaried and rolled back.
            s.setColors({ blue: FAULTY }, "blue");
            let faultAt: number | undefined;
            let backAt: number | undefined;
            let watching = true;
            const watch = (async () => {
                for (let i = 0; watching && i < 20_000; i++) {
                    const a = await get(s.frontendPort);
                    const now = Date.now();
                    if (a.release === FAULTY && faultAt === undefined) faultAt = now;
                    if (faultAt !== undefined && backAt === undefined && a.node === "3" && a.release === good) backAt = now;
                    await new Promise((res) => setTimeout(res, 10));
                }
            })();
            const f = await s.up();
            // The node may first answer on the last-known-good just after the up ends.
            for (let i = 0; backAt === undefined && i < 100; i++) await new Promise((res) => setTimeout(res, 50));
            watching = false;
            await watch;
            if (f.code === 0) throw new Error(`the faulty release was not rolled back:\n${f.stderr}`);
            if (faultAt === undefined || backAt === undefined) throw new Error(`fault ${faultAt} or recovery ${backAt} not seen:\n${f.stderr}`);
            faults.push(backAt - faultAt);
            s.setColors({ blue: good }, "blue");
            await s.upOk();
            console.log(
                `run ${k + 1}: canary ${canaries.at(-1)!.totalMs} ms (installs ${canaries.at(-1)!.installMs} ms); fault to last-known-good ${faults.at(-1)} ms; ` +
                    `abort to last-known-good ${aborts.at(-1)} ms; undo up ${undos.at(-1)!.upMs} ms (the undo itself ${undos.at(-1)!.undoMs} ms)`,
            );
        }
    } finally {
        await endWithPrometheus(s, promDir, load);
    }
    const result = {
        date: new Date().toISOString(),
        machine: machine(),
        window: { windowSeconds: WINDOW_S, probeIntervalSeconds: PROBE_S, scrapeIntervalSeconds: SCRAPE_S },
        faultToLastKnownGoodMs: { runs: faults, median: median(faults), targetMs: (PROBE_S + SCRAPE_S + 2) * 1000 },
        abortToLastKnownGoodMs: { runs: aborts, median: median(aborts), targetMs: (PROBE_S + 2) * 1000 },
        undoMs: { runs: undos, medianUp: median(undos.map((u) => u.upMs)), medianUndo: median(undos.map((u) => u.undoMs)), nodes: 3 },
        canaryMs: { runs: canaries, medianTotal: median(canaries.map((c) => c.totalMs)), medianInstalls: median(canaries.map((c) => c.installMs)) },
    };
    writeResult(out, result);
}

runMain(module, main);
