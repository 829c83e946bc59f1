// Benchmark: what a stack costs as it grows (issue 24). Stacks of 6, 24, 48 and 96 app
// containers (three components of 1, 4, 8 and 16 nodes, two colors), the example app, the
// release published once to the dir store. For each size, one at a time, destroyed after:
// the first `up`; a no-op `up` and `preview`; a fast rollback `up`; a one-node change (one
// idle container stopped behind the program's back: `preview` shows one update, `up` heals
// it); the state file's size; the request bytes the runner sends the provider host
// (BLUEGREEN_COUNT_BYTES); the peak RSS (VmHWM) of the runner and of the host.
//
//   npm run bench:scale -- [--sizes 6,24,48,96] [--out bench/results/scale.json]
//
// Stack `e2e-scale<NS>`, ports from 23000 (+ BLUEGREEN_E2E_PORT_OFFSET); every container it
// made is deleted at the end of each size, by its prefix.

import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT, TestStack } from "../harness/stack";
import { arg, writeResult } from "./common";

const A = "aaa6241";
const B = "bbb6242";
const COMPONENTS = ["backend", "stream", "web"] as const;
const CLI = path.join(ROOT, "scripts/local.js");
/** Ports per component: node n of a pool uses hostPort + 2n and + 2n + 1, so 16 nodes need 34. */
const PORT_STRIDE = 40;

interface Run {
    readonly code: number;
    readonly ms: number;
    readonly stderr: string;
    readonly stdout: string;
    /** Peak RSS in MB (VmHWM), of the runner process and of the provider host. */
    readonly runnerMB: number;
    readonly hostMB: number;
    /** `[host] N bytes sent in M calls`. */
    readonly bytesSent?: number;
    readonly calls?: number;
}

function children(): Map<number, number[]> {
    const kids = new Map<number, number[]>();
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            (kids.get(ppid) ?? kids.set(ppid, []).get(ppid)!).push(Number(d));
        } catch {
            // gone
        }
    }
    return kids;
}

function hwmMB(pid: number): number {
    try {
        const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
        return m ? Number(m[1]) / 1024 : 0;
    } catch {
        return 0;
    }
}

/** The runner's descendant that is the dynamic-provider host. */
function hostPid(runner: number): number | undefined {
    const kids = children();
    const todo = [...(kids.get(runner) ?? [])];
    for (let i = 0; i < todo.length && i < 10_000; i++) {
        const p = todo[i];
        try {
            if (fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("dynamic-provider")) return p;
        } catch {
            continue;
        }
        todo.push(...(kids.get(p) ?? []));
    }
    return undefined;
}

/** One runner command against the stack, as an operator runs it; samples both processes' peak RSS. */
function runner(s: TestStack, args: readonly string[], timeoutMs = 1_800_000): Promise<Run> {
    s.writeConfig();
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args, "--stack", s.stack, "--config-file", s.configFile, "--cwd", ROOT], {
        cwd: ROOT,
        env: { ...process.env, PULUMI_BACKEND_URL: s.backendUrl, PULUMI_CONFIG_PASSPHRASE: "", BLUEGREEN_QUIET: "", BLUEGREEN_COUNT_BYTES: "1" },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    let runnerMB = 0;
    let hostMB = 0;
    let host: number | undefined;
    const sample = () => {
        if (!child.pid) return;
        runnerMB = Math.max(runnerMB, hwmMB(child.pid));
        host ??= hostPid(child.pid);
        if (host) hostMB = Math.max(hostMB, hwmMB(host));
    };
    const sampler = setInterval(sample, 100);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    return new Promise((resolve) =>
        child.on("close", (code, signal) => {
            clearInterval(sampler);
            clearTimeout(timer);
            const m = /^\[host\] (\d+) bytes sent in (\d+) calls$/m.exec(stderr);
            resolve({
                code: code ?? (signal ? 137 : 1),
                ms: Date.now() - started,
                stderr,
                stdout,
                runnerMB: Math.round(runnerMB),
                hostMB: Math.round(hostMB),
                ...(m ? { bytesSent: Number(m[1]), calls: Number(m[2]) } : {}),
            });
        }),
    );
}

async function ok(s: TestStack, what: string, args: readonly string[]): Promise<Run> {
    const r = await runner(s, args);
    if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stderr.slice(-4000)}`);
    console.log(`  ${what}: ${r.ms} ms, runner ${r.runnerMB} MB, host ${r.hostMB} MB, ${r.bytesSent ?? "?"} bytes in ${r.calls ?? "?"} calls`);
    return r;
}

interface Row {
    containers: number;
    nodes: number;
    firstUpMs: number;
    noopUpMs: number;
    noopPreviewMs: number;
    rollbackUpMs: number;
    oneNodePreviewMs: number;
    oneNodeUpMs: number;
    stateBytes: number;
    resources: number;
    /** Request bytes to the host: first up, no-op up. */
    bytesFirstUp?: number;
    bytesNoopUp?: number;
    /** Peak over every command of this size. */
    runnerPeakMB: number;
    hostPeakMB: number;
    /** Progress lines ("N of M containers healthy") the first `up` printed. */
    progressLines: number;
    uptime: string;
}

async function size(containers: number): Promise<Row> {
    const nodes = containers / (2 * COMPONENTS.length);
    const s = new TestStack({ name: "scale", basePort: 23000 });
    const base = s.frontendPort;
    s.reset();
    s.config.components = Object.fromEntries(
        COMPONENTS.map((c, i) => [c, { hostPort: base + PORT_STRIDE * (i + 1), route: c === "web" ? "/" : `/${c === "backend" ? "api" : c}`, nodes }]),
    );
    s.config.health = { attempts: 240, intervalMs: 500, timeoutMs: 2000 };
    await s.publish(A);
    await s.publish(B);
    s.setColors({ blue: A, green: B }, "blue");
    const runs: Run[] = [];
    try {
        console.log(`${containers} containers (${nodes} per component and color): ${uptime()}`);
        const first = await ok(s, "first up", ["up"]);
        runs.push(first);
        const stateBytes = fs.statSync(s.statePath()).size;
        const resources = (s.state().resources ?? []).length;
        const noopUp = await ok(s, "no-op up", ["up"]);
        const noopPreview = await ok(s, "no-op preview", ["preview"]);
        s.config.active = "green";
        const rollback = await ok(s, "fast rollback up", ["up"]);
        const idle = `${s.prefix}web-blue${nodes === 1 ? "" : "-1"}`;
        const stop = spawn("incus", ["stop", "--force", idle], { stdio: "ignore" });
        await new Promise((r) => stop.on("close", r));
        const onePreview = await ok(s, "one-node preview", ["preview"]);
        if (!/~ .*: update/.test(onePreview.stdout)) console.log(`  (preview did not show an update:\n${onePreview.stdout.slice(-2000)})`);
        const oneUp = await ok(s, "one-node up", ["up"]);
        runs.push(noopUp, noopPreview, rollback, onePreview, oneUp);
        return {
            containers,
            nodes,
            firstUpMs: first.ms,
            noopUpMs: noopUp.ms,
            noopPreviewMs: noopPreview.ms,
            rollbackUpMs: rollback.ms,
            oneNodePreviewMs: onePreview.ms,
            oneNodeUpMs: oneUp.ms,
            stateBytes,
            resources,
            bytesFirstUp: first.bytesSent,
            bytesNoopUp: noopUp.bytesSent,
            runnerPeakMB: Math.max(...runs.map((r) => r.runnerMB)),
            hostPeakMB: Math.max(...runs.map((r) => r.hostMB)),
            progressLines: (first.stderr.match(/containers healthy/g) ?? []).length,
            uptime: uptime(),
        };
    } finally {
        console.log(`  destroying ${containers}...`);
        await runner(s, ["destroy"]).catch(() => undefined);
        await s.teardown();
    }
}

function uptime(): string {
    return `load average ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(", ")}`;
}

/**
 * How a figure grows with the containers, from its values at the sizes measured: constant when
 * the largest is under twice the smallest; worse than linear when the cost per added container
 * between the last two sizes is over twice that between the first two; else linear. Also the
 * least-squares line a + b·n.
 */
export function growth(points: readonly { n: number; y: number }[]): { kind: "constant" | "linear" | "worse than linear"; a: number; b: number } {
    const p = [...points].sort((x, y) => x.n - y.n);
    const k = p.length;
    const mn = p.reduce((s, q) => s + q.n, 0) / k;
    const my = p.reduce((s, q) => s + q.y, 0) / k;
    const b = p.reduce((s, q) => s + (q.n - mn) * (q.y - my), 0) / (p.reduce((s, q) => s + (q.n - mn) ** 2, 0) || 1);
    const a = my - b * mn;
    if (k < 2 || p[k - 1]!.y < 2 * p[0]!.y) return { kind: "constant", a, b };
    const first = (p[1]!.y - p[0]!.y) / (p[1]!.n - p[0]!.n);
    const last = (p[k - 1]!.y - p[k - 2]!.y) / (p[k - 1]!.n - p[k - 2]!.n);
    return { kind: k >= 3 && last > 2 * Math.max(first, 0) && last > 0 ? "worse than linear" : "linear", a, b };
}

const FIGURES: (keyof Row)[] = [
    "firstUpMs",
    "noopUpMs",
    "noopPreviewMs",
    "rollbackUpMs",
    "oneNodePreviewMs",
    "oneNodeUpMs",
    "stateBytes",
    "bytesFirstUp",
    "bytesNoopUp",
    "runnerPeakMB",
    "hostPeakMB",
];

async function main(): Promise<void> {
    const sizes = arg("sizes", "6,24,48,96").split(",").map(Number);
    const out = arg("out", path.join(__dirname, "results", "scale.json"));
    for (const n of sizes) if (!Number.isInteger(n) || n % 6 !== 0 || n <= 0) throw new Error(`--sizes: ${n} is not a multiple of 6 (3 components, 2 colors)`);
    process.env.BLUEGREEN_QUIET = "1";
    const rows: Row[] = [];
    const previous = fs.existsSync(out) ? ((JSON.parse(fs.readFileSync(out, "utf8")) as { rows?: Row[] }).rows ?? []) : [];
    if (process.argv.includes("--fit")) return printFit(previous);
    for (const n of sizes) {
        rows.push(await size(n));
        // Each size is kept as soon as it is measured (a 96-container run is long).
        const merged = [...previous.filter((r) => !rows.some((x) => x.containers === r.containers)), ...rows].sort((a, b) => a.containers - b.containers);
        writeResult(out, { date: new Date().toISOString(), machine: `${os.cpus().length} vCPU, Node ${process.version}`, rows: merged });
    }
    console.log(
        "\n| containers | first up | no-op up | no-op preview | rollback up | one-node preview | one-node up | state | bytes to host (first, no-op) | runner RSS | host RSS |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
        console.log(
            `| ${r.containers} | ${r.firstUpMs} ms | ${r.noopUpMs} ms | ${r.noopPreviewMs} ms | ${r.rollbackUpMs} ms | ${r.oneNodePreviewMs} ms | ${r.oneNodeUpMs} ms | ${r.stateBytes} B (${r.resources} resources) | ${r.bytesFirstUp}, ${r.bytesNoopUp} | ${r.runnerPeakMB} MB | ${r.hostPeakMB} MB |`,
        );
    }
}

function printFit(rows: readonly Row[]): void {
    console.log("| figure | growth | fit a + b·n |");
    console.log("|---|---|---|");
    for (const f of FIGURES) {
        const pts = rows.filter((r) => typeof r[f] === "number").map((r) => ({ n: r.containers, y: r[f] as number }));
        if (pts.length < 2) continue;
        const g = growth(pts);
        console.log(`| ${f} | ${g.kind} | ${g.a.toFixed(0)} + ${g.b.toFixed(1)}·n |`);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
