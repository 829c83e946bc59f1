// What every benchmark script shares: its options, the machine it ran on, the median of
// its runs, writing its results file, failing the process on an error, and the start and
// end of a stack whose program runs its own Prometheus.

import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stopPrometheus } from "../components/release/rollout/prometheus";
import type { ClusterStatus } from "../harness/cluster";
import type { RunningLoad } from "../harness/load";
import type { TestStack } from "../harness/stack";

/** `--name value` from argv, else `fallback`. */
export function arg(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** The upper median: a value that was measured, never an average of two. */
export function median(xs: readonly number[]): number {
    return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

export function machine(): string {
    return `${os.cpus().length} vCPU ${os.cpus()[0]?.model ?? ""}, Node ${process.version}`;
}

/** Writes the results file and prints it. */
export function writeResult(out: string, result: unknown): void {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
    console.log(JSON.stringify(result, null, 2));
}

/** Runs `main` when the file is the entry point; an error exits 1. */
export function runMain(module: NodeJS.Module, main: () => Promise<void>): void {
    if (require.main !== module) return;
    main().catch((e) => {
        console.error(e);
        process.exit(1);
    });
}

/** Resets a stack whose program runs its own Prometheus, first stopping one a killed run left; returns that Prometheus's directory. */
export async function resetWithPrometheus(s: TestStack): Promise<string> {
    const promDir = path.join(s.haproxyDir, "prometheus");
    await stopPrometheus(promDir).catch(() => undefined);
    s.reset();
    return promDir;
}

/** Ends such a benchmark: the load's counts, then the stack and its Prometheus. */
export async function endWithPrometheus(s: TestStack, promDir: string, load: RunningLoad): Promise<void> {
    const res = await load.stop();
    console.log(`load: ${res.requests} requests, ${res.status} non-2xx`);
    await s.teardown();
    await stopPrometheus(promDir).catch(() => undefined);
}

/**
 * `--remote`: the benchmark against a plain Incus remote (a MODE=single cluster of its own,
 * scripts/cluster.sh). The root namespace must not dial the cluster's LAN, so this process only
 * brings the cluster up, runs the same script again inside its runner namespace (with the
 * cluster's status in BENCH_REMOTE), then takes the cluster down. Resolves true when it did so.
 */
export async function launchRemote(script: string): Promise<boolean> {
    if (!process.argv.includes("--remote") || process.env.BENCH_REMOTE) return false;
    const { TestCluster } = await import("../harness/cluster");
    const c = new TestCluster({ name: "bench-remote", mode: "single", members: 1 });
    console.log(`bringing up the remote (scripts/cluster.sh, ${c.name})...`);
    const st = await c.up();
    try {
        const argv = [process.execPath, "-r", "ts-node/register/transpile-only", script, ...process.argv.slice(2)];
        const code = await new Promise<number>((resolve) => {
            const child = spawn(path.join(__dirname, "..", "scripts", "cluster.sh"), ["exec", "--", ...argv], {
                stdio: "inherit",
                env: { ...process.env, BLUEGREEN_CLUSTER_NAME: c.name, MODE: "single", BENCH_REMOTE: JSON.stringify(st) },
            });
            child.on("close", (code) => resolve(code ?? 1));
        });
        if (code !== 0) throw new Error(`the benchmark in the runner namespace exited ${code}`);
    } finally {
        await c.down();
    }
    return true;
}

/** Inside the runner namespace of `--remote`: the cluster's status; undefined for the local profile. */
export function remoteStatus(): ClusterStatus | undefined {
    return process.env.BENCH_REMOTE ? (JSON.parse(process.env.BENCH_REMOTE) as ClusterStatus) : undefined;
}

/** `[incus] 7 round trips: exec 3, ...` of a runner's stderr (BLUEGREEN_COUNT_INCUS=1): the total and the kinds. */
export function roundTrips(stderr: string): { total: number; kinds: string } | undefined {
    const m = /^\[incus\] (\d+) round trips?(?:: (.*))?$/m.exec(stderr);
    return m ? { total: Number(m[1]), kinds: m[2] ?? "" } : undefined;
}
