// Real processes that race for a lock (test/helpers/lockRaceWorker.ts): started once, then
// told to go at the same moment, round after round. Bounded: every answer has a deadline.

import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as readline from "readline";

const WORKER = path.join(__dirname, "lockRaceWorker.ts");

export class RaceWorkers {
    private readonly procs: ChildProcess[] = [];
    private readonly queues: ((line: string) => void)[][] = [];
    private readonly pending: string[][] = [];

    constructor(dir: string, count: number) {
        for (let i = 0; i < count; i++) {
            const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", WORKER, dir], {
                cwd: path.resolve(__dirname, "..", ".."),
                stdio: ["pipe", "pipe", "inherit"],
            });
            this.procs.push(child);
            this.queues.push([]);
            this.pending.push([]);
            readline.createInterface({ input: child.stdout! }).on("line", (line) => {
                const waiter = this.queues[i]!.shift();
                if (waiter) waiter(line);
                else this.pending[i]!.push(line);
            });
        }
    }

    private next(i: number, timeoutMs: number): Promise<Record<string, any>> {
        const ready = this.pending[i]!.shift();
        if (ready !== undefined) return Promise.resolve(JSON.parse(ready));
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`worker ${i} did not answer within ${timeoutMs} ms`)), timeoutMs);
            this.queues[i]!.push((line) => {
                clearTimeout(timer);
                resolve(JSON.parse(line));
            });
        });
    }

    /** Waits until every worker has loaded its modules. */
    async ready(timeoutMs = 60_000): Promise<void> {
        await Promise.all(this.procs.map((_, i) => this.next(i, timeoutMs)));
    }

    /** Sends each worker its command at once; resolves with their answers, in order. */
    async go(commands: readonly Record<string, unknown>[], timeoutMs = 20_000): Promise<Record<string, any>[]> {
        const answers = this.procs.map((_, i) => this.next(i, timeoutMs));
        this.procs.forEach((p, i) => p.stdin!.write(JSON.stringify(commands[i]) + "\n"));
        const out = await Promise.all(answers);
        for (const a of out) if (a.error) throw new Error(`worker failed: ${a.error}`);
        return out;
    }

    close(): void {
        for (const p of this.procs) {
            p.stdin!.end();
            if (p.exitCode === null) p.kill("SIGKILL");
        }
    }
}
