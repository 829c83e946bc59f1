// Benchmark: flip the active color back and forth under steady load and report
// requests, non-2xx responses, socket errors and switch latency (start of the
// switch's update to the first response from the new color).
//
//   npm run bench -- [--flips 50] [--out bench/results/switch.json]
//
// Real everything: Incus containers, a haproxy master-worker, wrk as the load
// generator. The stack is set up through the runner (`up`); the flips call the
// switch provider's `update` directly, so the figure is the switch itself and not
// the runner's start-up (ts-node and the Pulumi SDK take about 2 s).

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { switchInputs } from "../components/plan";
import { parseConfig, StackConfig } from "../components/model/config";
import { Color, otherColor } from "../components/model/naming";
import { switchProvider } from "../components/providers/switch";
import type { SwitchOutputs } from "../components/release/switch";
import { ColorProbe, LoadResult, startLoad } from "../harness/load";
import { TestStack } from "../harness/stack";

const A = "aaa9001";
const B = "bbb9002";

interface Row {
    load_profile: string;
    method: string;
    connections: string;
    flips: number;
    load: LoadResult;
    latencyMs: { p50: number; p95: number; max: number };
    updateMs: { p50: number; max: number };
    missed: number;
}

function arg(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function pct(xs: number[], p: number): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
    const flips = Number(arg("flips", "50"));
    const out = arg("out", path.join(__dirname, "results", "switch.json"));
    process.env.BLUEGREEN_QUIET = "1";

    const s = new TestStack({ name: "bench", basePort: 19500 });
    s.reset();
    await s.publish(A);
    await s.publish(B);
    s.setColors({ blue: A, green: B }, "blue");
    console.log("setting up the stack (runner up)...");
    await s.upOk();

    const base: StackConfig = parseConfig(s.config, s.stack);
    const rows: Row[] = [];
    try {
        // steady: 8 connections, each pausing 5 ms between requests (about 1,400 req/s).
        // stress: 16 connections as fast as they go, which saturates this 2-core machine.
        const profiles = [
            { name: "steady", connections: 8, pauseMs: 5, methods: ["runtime", "reload"] as const },
            { name: "stress", connections: 16, pauseMs: 0, methods: ["runtime"] as const },
        ];
        for (const profile of profiles) {
            for (const method of profile.methods) {
                for (const keepAlive of [true, false]) {
                    const inputsFor = (color: Color) => switchInputs({ ...base, active: color, haproxy: { ...base.haproxy, switchMethod: method } });
                    let olds = (await switchProvider.update!("bench", {} as SwitchOutputs, inputsFor("blue"))).outs as SwitchOutputs;
                    const load = startLoad({
                        url: `http://127.0.0.1:${s.frontendPort}`,
                        connections: profile.connections,
                        pauseMs: profile.pauseMs,
                        threads: 1,
                        keepAlive,
                    });
                    const probe = new ColorProbe(`http://127.0.0.1:${s.frontendPort}/api/probe`, 1);
                    await sleep(1000);
                    const latencies: number[] = [];
                    const updates: number[] = [];
                    let missed = 0;
                    for (let i = 0; i < flips; i++) {
                        const target = otherColor(olds.active);
                        const started = Date.now();
                        olds = (await switchProvider.update!("bench", olds, inputsFor(target))).outs as SwitchOutputs;
                        updates.push(Date.now() - started);
                        const first = await probe.firstFrom(target, started, 5000);
                        if (first === undefined) missed++;
                        else latencies.push(first - started);
                        await sleep(150);
                    }
                    await probe.stop();
                    const result = await load.stop();
                    const row: Row = {
                        load_profile: `${profile.name} (${profile.connections} conn, ${profile.pauseMs} ms pause)`,
                        method,
                        connections: keepAlive ? "keep-alive" : "new per request",
                        flips,
                        load: result,
                        latencyMs: { p50: pct(latencies, 50), p95: pct(latencies, 95), max: Math.max(...latencies) },
                        updateMs: { p50: pct(updates, 50), max: Math.max(...updates) },
                        missed,
                    };
                    rows.push(row);
                    console.log(JSON.stringify(row));
                }
            }
        }
    } finally {
        await s.teardown();
    }

    fs.mkdirSync(path.dirname(out), { recursive: true });
    const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
    fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2) + "\n");

    console.log("\n| load | switch | connections | flips | requests | non-2xx | socket errors | latency p50 | p95 | max | missed |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
        const sock = r.load.connect + r.load.read + r.load.write + r.load.timeout;
        console.log(
            `| ${r.load_profile} | ${r.method} | ${r.connections} | ${r.flips} | ${r.load.requests} | ${r.load.status} | ${sock} | ${r.latencyMs.p50} ms | ${r.latencyMs.p95} ms | ${r.latencyMs.max} ms | ${r.missed} |`,
        );
    }
    console.log(`\nwritten to ${out}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
