// What every benchmark script shares: its options, the machine it ran on, the median of
// its runs, writing its results file, failing the process on an error, and the start and
// end of a stack whose program runs its own Prometheus.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stopPrometheus } from "../components/release/prometheus";
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
