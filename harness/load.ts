// Steady load from a real load generator (wrk, from Debian) against the HAProxy
// frontend, and a fine-grained probe that notes when each color first answers.
// Used by the e2e load test and by the benchmark.
//
// autocannon was tried first: with a new connection per request it stops counting
// responses (reconnectRate) or loses requests silently (Connection: close), so it
// cannot prove "nothing dropped". wrk reconnects on `Connection: close` and counts.

import { ChildProcess, spawn } from "child_process";
import * as http from "http";
import * as path from "path";

const LUA = path.resolve(__dirname, "../bench/wrk-colors.lua");

export interface LoadOptions {
    readonly url: string;
    readonly connections: number;
    /** false: `Connection: close`, so every request opens a new connection. */
    readonly keepAlive: boolean;
    readonly threads?: number;
    /** Milliseconds each connection waits between requests (steady rate); 0 = as fast as it can. */
    readonly pauseMs?: number;
    /** Runs wrk inside this argv (e.g. the cluster's runner namespace), with `env` added. */
    readonly wrap?: { readonly argv: readonly string[]; readonly env?: Readonly<Record<string, string>> };
    /** Extra request headers (`Name: value`), e.g. a persistence cookie. */
    readonly headers?: readonly string[];
}

export interface LoadResult {
    readonly requests: number;
    /** Non-2xx/3xx responses. */
    readonly status: number;
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    readonly timeout: number;
    readonly blue: number;
    readonly green: number;
    readonly other: number;
    readonly p99_ms: number;
}

export interface RunningLoad {
    stop(): Promise<LoadResult>;
}

/** Pure: wrk's argv for these options. */
export function wrkArgv(o: LoadOptions): string[] {
    return [
        "wrk",
        "-t",
        String(o.threads ?? 2),
        "-c",
        String(o.connections),
        "-d",
        "3600s",
        "--timeout",
        "10s",
        "-s",
        LUA,
        ...(o.keepAlive ? [] : ["-H", "Connection: close"]),
        ...(o.headers ?? []).flatMap((h) => ["-H", h]),
        o.url,
        "--",
        String(o.pauseMs ?? 0),
    ];
}

/** Pure: the result line the Lua script prints when wrk finishes. */
export function parseWrk(output: string): LoadResult {
    const m = /^BLUEGREEN (\{.*\})$/m.exec(output);
    if (!m) throw new Error(`wrk printed no result (is wrk installed? run scripts/setup-host.sh):\n${output}`);
    return JSON.parse(m[1]) as LoadResult;
}

export function startLoad(o: LoadOptions): RunningLoad {
    const [file, ...args] = [...(o.wrap?.argv ?? []), ...wrkArgv(o)];
    const child: ChildProcess = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...o.wrap?.env } });
    let out = "";
    child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
    return {
        async stop() {
            child.kill("SIGINT"); // wrk stops and reports what it counted so far
            const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
            await exited;
            clearTimeout(killer);
            return parseWrk(out);
        },
    };
}

/** GETs in a tight loop (new connection each) and records when each color first answers. */
export class ColorProbe {
    private running = true;
    private readonly seen: { at: number; color: string }[] = [];
    private readonly loop: Promise<void>;

    constructor(
        private readonly url: string,
        intervalMs = 2,
    ) {
        this.loop = (async () => {
            while (this.running) {
                const color = await new Promise<string>((resolve) => {
                    const req = http.get(this.url, { agent: false, timeout: 2000, headers: { connection: "close" } }, (res) => {
                        res.resume();
                        res.on("end", () => resolve((res.headers["x-bluegreen-color"] as string) ?? `HTTP ${res.statusCode}`));
                    });
                    req.on("timeout", () => req.destroy(new Error("timeout")));
                    req.on("error", () => resolve("error"));
                });
                this.seen.push({ at: Date.now(), color });
                await new Promise((r) => setTimeout(r, intervalMs));
            }
        })();
    }

    /** First time (ms since epoch) `color` answered at or after `since`; polls up to `timeoutMs`. */
    async firstFrom(color: string, since: number, timeoutMs = 10_000): Promise<number | undefined> {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
            const hit = this.seen.find((s) => s.at >= since && s.color === color);
            if (hit) return hit.at;
            await new Promise((r) => setTimeout(r, 5));
        }
        return undefined;
    }

    /** Every answer so far: when, and the color HAProxy says answered (or `HTTP <code>`, `error`). */
    samples(): readonly { readonly at: number; readonly color: string }[] {
        return this.seen;
    }

    async stop(): Promise<void> {
        this.running = false;
        await this.loop;
    }
}
