// Benchmark: flip the active color back and forth under steady load and report
// requests, non-2xx responses, socket errors and switch latency (start of the
// switch's update to the first response from the new color).
//
//   npm run bench -- [--flips 50] [--out bench/results/switch.json] [--remote] [--steady-only]
//
// `--remote`: against a plain Incus remote (bench/common.ts launchRemote): HAProxy in an
// instance on it, this process, wrk and the probe in the cluster's runner namespace.
// `--steady-only`: the steady runtime rows only. With --remote, the Incus round trips of
// each flip are counted (BLUEGREEN_COUNT_INCUS_FILE) and reported per row.
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
import type { SwitchOutputs } from "../components/release/traffic/switch";
import { ColorProbe, LoadResult, startLoad } from "../harness/load";
import { TestStack } from "../harness/stack";
import { launchRemote, remoteStatus } from "./common";
import { COUNT_INCUS_FILE } from "../components/io/exec";
import { incusCounts } from "../components/model/cluster/incusCount";

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
    /** Incus round trips per flip: median, and the kinds of the median flip's. */
    incusRoundTrips?: { p50: number; kinds: string };
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
    if (await launchRemote(__filename)) return;
    const st = remoteStatus();
    const flips = Number(arg("flips", "50"));
    const out = arg("out", path.join(__dirname, "results", st ? "switch-remote.json" : "switch.json"));
    process.env.BLUEGREEN_QUIET = "1";

    const s = st ? new TestStack({ name: "bench-remote", basePort: 19700, placement: "incus" }) : new TestStack({ name: "bench", basePort: 19500 });
    const frontend = `http://${st ? st.members[0].address : "127.0.0.1"}:${s.frontendPort}`;
    s.reset();
    if (st) s.config.incus = { remote: st.remote };
    const countFile = path.join(s.dir, "incus-count");
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
        const all = [
            { name: "steady", connections: 8, pauseMs: 5, methods: ["runtime", "reload"] as const },
            { name: "stress", connections: 16, pauseMs: 0, methods: ["runtime"] as const },
        ];
        const profiles = process.argv.includes("--steady-only") ? [{ ...all[0], methods: ["runtime"] as const }] : all;
        for (const profile of profiles) {
            for (const method of profile.methods) {
                for (const keepAlive of [true, false]) {
                    const inputsFor = (color: Color) => switchInputs({ ...base, active: color, haproxy: { ...base.haproxy, switchMethod: method } });
                    let olds = (await switchProvider.update!("bench", {} as SwitchOutputs, inputsFor("blue"))).outs as SwitchOutputs;
                    const load = startLoad({
                        url: frontend,
                        connections: profile.connections,
                        pauseMs: profile.pauseMs,
                        threads: 1,
                        keepAlive,
                    });
                    const probe = new ColorProbe(`${frontend}/api/probe`, 1);
                    await sleep(1000);
                    const latencies: number[] = [];
                    const updates: number[] = [];
                    let missed = 0;
                    const trips: { total: number; kinds: string }[] = [];
                    for (let i = 0; i < flips; i++) {
                        const target = otherColor(olds.active);
                        fs.writeFileSync(countFile, "");
                        process.env[COUNT_INCUS_FILE] = countFile;
                        const started = Date.now();
                        olds = (await switchProvider.update!("bench", olds, inputsFor(target))).outs as SwitchOutputs;
                        updates.push(Date.now() - started);
                        delete process.env[COUNT_INCUS_FILE];
                        const c = incusCounts(fs.readFileSync(countFile, "utf8"));
                        trips.push({ total: c.total, kinds: c.byKind.map(([k, n]) => `${k} ${n}`).join(", ") });
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
                        ...(trips.length
                            ? {
                                  incusRoundTrips: {
                                      p50: pct(
                                          trips.map((t) => t.total),
                                          50,
                                      ),
                                      kinds: trips.sort((a, b) => a.total - b.total)[Math.floor(trips.length / 2)].kinds,
                                  },
                              }
                            : {}),
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
    const profile = st ? `remote (${st.remote}, MODE=single, runner namespace)` : "local";
    fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), profile, machine, rows }, null, 2) + "\n");
    console.log(`\nprofile: ${profile}`);

    console.log("\n| load | switch | connections | flips | requests | non-2xx | socket errors | latency p50 | p95 | max | missed | Incus round trips |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
        const sock = r.load.connect + r.load.read + r.load.write + r.load.timeout;
        console.log(
            `| ${r.load_profile} | ${r.method} | ${r.connections} | ${r.flips} | ${r.load.requests} | ${r.load.status} | ${sock} | ${r.latencyMs.p50} ms | ${r.latencyMs.p95} ms | ${r.latencyMs.max} ms | ${r.missed} | ${r.incusRoundTrips ? `${r.incusRoundTrips.p50} (${r.incusRoundTrips.kinds})` : "-"} |`,
        );
    }
    console.log(`\nwritten to ${out}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
