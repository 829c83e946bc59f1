// Benchmark: fast rollback end to end. Flips bluegreen:active in the stack config and runs
// `npm run local -- up`, as an operator does, and measures the wall time from the start
// of that command to the first response from the new color through the frontend; idle,
// and under the steady load of bench/switch.ts (wrk, 8 connections, 5 ms pause).
//
//   npm run bench:flip -- [--flips 20] [--out bench/results/flip.json] [--remote]
//
// Real everything: Incus containers, a haproxy master-worker, wrk. Stack `e2e-benchr`,
// ports from 21600, so it does not collide with the other benchmarks or e2e stacks.
// `--remote`: the same against a plain Incus remote (bench/common.ts launchRemote): stack
// `e2e-benchr-remote`, HAProxy in an instance, the runner, wrk and the probe in the runner
// namespace. Each `up` runs with BLUEGREEN_COUNT_INCUS=1; the Incus round trips of a no-op,
// a deploy and each flip are reported.

import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ColorProbe, LoadResult, startLoad } from "../harness/load";
import { ROOT, TestStack } from "../harness/stack";
import { launchRemote, remoteStatus, roundTrips } from "./common";

const A = "aaa9101";
const B = "bbb9102";
const C = "ccc9103";

function arg(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function pct(xs: number[], p: number): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `npm run local -- up` for the stack; resolves with its exit code, stderr and duration. */
function up(s: TestStack): Promise<{ code: number; stderr: string; ms: number }> {
    const started = Date.now();
    const child = spawn("npm", ["run", "--silent", "local", "--", "up", "--stack", s.stack, "--config-file", s.configFile, "--cwd", ROOT], {
        cwd: ROOT,
        env: {
            ...process.env,
            PULUMI_BACKEND_URL: s.backendUrl,
            PULUMI_CONFIG_PASSPHRASE: "",
            BLUEGREEN_QUIET: "1",
            BLUEGREEN_TIMING: "1",
            BLUEGREEN_COUNT_INCUS: "1",
        },
        stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (b) => (stderr += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    return new Promise((resolve) =>
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: code ?? 1, stderr, ms: Date.now() - started });
        }),
    );
}

interface Row {
    profile: string;
    flips: number;
    firstResponseMs: { p50: number; p95: number; max: number };
    commandMs: { p50: number; p95: number };
    /** Runner phases (BLUEGREEN_TIMING), medians. */
    phasesMs: Record<string, number>;
    missed: number;
    failedUps: number;
    /** Incus round trips per flip (BLUEGREEN_COUNT_INCUS): median total, and the kinds of the last. */
    incusRoundTrips?: { p50: number; kinds: string };
    load?: LoadResult;
}

function phases(stderr: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of stderr.matchAll(/^\[timing\] (.+): (\d+) ms$/gm)) out[m[1]] = Number(m[2]);
    return out;
}

async function main(): Promise<void> {
    if (await launchRemote(__filename)) return;
    const st = remoteStatus();
    const flips = Number(arg("flips", "20"));
    const out = arg("out", path.join(__dirname, "results", st ? "flip-remote.json" : "flip.json"));
    process.env.BLUEGREEN_QUIET = "1";
    const s = st ? new TestStack({ name: "benchr-remote", basePort: 21700, placement: "incus" }) : new TestStack({ name: "benchr", basePort: 21600 });
    const frontend = `http://${st ? st.members[0].address : "127.0.0.1"}:${s.frontendPort}`;
    s.reset();
    if (st) s.config.incus = { remote: st.remote };
    await s.publish(A);
    await s.publish(B);
    await s.publish(C);
    s.setColors({ blue: A, green: B }, "blue");
    console.log("setting up the stack (runner up)...");
    await s.upOk();
    const rows: Row[] = [];
    /** Incus round trips per `up`: a no-op, a deploy (green to C), then each flip (in the rows). */
    const perUp: Record<string, { total: number; kinds: string } | undefined> = {};
    try {
        const noop = await up(s);
        perUp["no-op"] = roundTrips(noop.stderr);
        s.setColors({ blue: A, green: C }, "blue");
        s.writeConfig();
        const deploy = await up(s);
        if (deploy.code !== 0) throw new Error(`deploy failed:\n${deploy.stderr}`);
        perUp["deploy (standby green to a new release)"] = roundTrips(deploy.stderr);
        for (const profile of ["idle", "steady (8 conn, 5 ms pause)"]) {
            const load = profile === "idle" ? undefined : startLoad({ url: frontend, connections: 8, pauseMs: 5, threads: 1, keepAlive: true });
            const probe = new ColorProbe(`${frontend}/api/probe`, 1);
            await sleep(1000);
            const first: number[] = [];
            const command: number[] = [];
            const allPhases: Record<string, number[]> = {};
            let missed = 0;
            let failedUps = 0;
            const trips: number[] = [];
            let kinds = "";
            for (let i = 0; i < flips; i++) {
                const target = s.config.active === "blue" ? "green" : "blue";
                s.config.active = target;
                s.writeConfig();
                const started = Date.now();
                const r = await up(s);
                if (r.code !== 0) {
                    failedUps++;
                    console.error(r.stderr);
                }
                const hit = await probe.firstFrom(target, started, 5000);
                if (hit === undefined) missed++;
                else first.push(hit - started);
                command.push(r.ms);
                const rt = roundTrips(r.stderr);
                if (rt) {
                    trips.push(rt.total);
                    kinds = rt.kinds;
                }
                for (const [k, v] of Object.entries(phases(r.stderr))) (allPhases[k] ??= []).push(v);
                await sleep(300);
            }
            await probe.stop();
            const result = load ? await load.stop() : undefined;
            const row: Row = {
                profile,
                flips,
                firstResponseMs: { p50: pct(first, 50), p95: pct(first, 95), max: Math.max(...first) },
                commandMs: { p50: pct(command, 50), p95: pct(command, 95) },
                phasesMs: Object.fromEntries(Object.entries(allPhases).map(([k, v]) => [k, pct(v, 50)])),
                missed,
                failedUps,
                ...(trips.length ? { incusRoundTrips: { p50: pct(trips, 50), kinds } } : {}),
                load: result,
            };
            rows.push(row);
            console.log(JSON.stringify(row));
        }
    } finally {
        await s.teardown();
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const machine = {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        loadavg: os.loadavg(),
    };
    const profile = st ? `remote (${st.remote}, MODE=single, runner namespace)` : "local";
    fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), profile, machine, incusRoundTripsPerUp: perUp, rows }, null, 2) + "\n");
    console.log(`\nprofile: ${profile}`);
    console.log("\n| up | Incus round trips | by kind |");
    console.log("|---|---|---|");
    for (const [k, v] of Object.entries(perUp)) console.log(`| ${k} | ${v?.total ?? "?"} | ${v?.kinds ?? ""} |`);
    for (const r of rows) if (r.incusRoundTrips) console.log(`| flip, ${r.profile} (median) | ${r.incusRoundTrips.p50} | ${r.incusRoundTrips.kinds} |`);
    console.log("\n| load | flips | first response p50 | p95 | max | command p50 | failed requests | missed |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
        const failed = r.load ? r.load.status + r.load.connect + r.load.read + r.load.write + r.load.timeout : 0;
        console.log(
            `| ${r.profile} | ${r.flips} | ${r.firstResponseMs.p50} ms | ${r.firstResponseMs.p95} ms | ${r.firstResponseMs.max} ms | ${r.commandMs.p50} ms | ${r.load ? failed : "-"} | ${r.missed} |`,
        );
    }
    console.log(`\nwritten to ${out}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
