// The one process seam. Every external program (incus, haproxy, socat, tar) runs
// through `run`, always as an argv array and never through a shell.

import { spawn } from "child_process";
import * as fs from "fs";
import { incusKind } from "../model/cluster/incusCount";
import { incusConfEnv } from "../model/cluster/trust";

/** A command is a value: build it with a pure function, run it here. */
export interface Cmd {
    readonly argv: readonly string[];
    /** Bytes written to stdin, then stdin is closed. */
    readonly input?: string | Buffer;
    /** Killed (SIGKILL) after this long; the result then has `timedOut`. */
    readonly timeoutMs?: number;
    readonly env?: Readonly<Record<string, string>>;
    /** `env` is the whole environment: nothing of this process's is inherited. */
    readonly cleanEnv?: boolean;
    readonly cwd?: string;
    /** In its own process group, so a Ctrl-C to this process's group does not reach it. */
    readonly detached?: boolean;
}

export interface CmdResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
    readonly timedOut?: boolean;
}

export type Runner = (cmd: Cmd) => Promise<CmdResult>;

const DEFAULT_TIMEOUT_MS = 120_000;

/** A spawned process whose output is collected; `kill` signals it only while it runs. */
interface Collecting {
    readonly child: ReturnType<typeof spawn>;
    readonly done: Promise<CmdResult>;
    kill(signal: NodeJS.Signals): void;
}

/** Spawns the process directly (no shell), kills it at its deadline, and collects its output. */
function spawnCollecting(cmd: Cmd, stdin: "pipe" | "ignore"): Collecting {
    const [file, ...args] = cmd.argv;
    const child = spawn(file, args, {
        cwd: cmd.cwd,
        detached: cmd.detached,
        env: cmd.cleanEnv ? { ...cmd.env } : cmd.env ? { ...process.env, ...cmd.env } : process.env,
        stdio: [stdin, "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const kill = (signal: NodeJS.Signals) => {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        try {
            process.kill(child.pid, signal);
        } catch {
            // it ended between the check and the signal
        }
    };
    const timer = setTimeout(() => {
        timedOut = true;
        kill("SIGKILL");
    }, cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    const done = new Promise<CmdResult>((resolve) => {
        child.on("error", (e: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            const hint = e.code === "ENOENT" ? ` (is ${file} installed? run scripts/setup-host.sh)` : "";
            resolve({ code: 127, stdout: "", stderr: `${e.message}${hint}` });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({
                code: code ?? (signal ? 128 : 1),
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8"),
                ...(timedOut ? { timedOut } : {}),
            });
        });
    });
    return { child, done, kill };
}

/** Spawns the process directly (no shell) and collects its output. */
export function spawnRunner(cmd: Cmd): Promise<CmdResult> {
    const { child, done } = spawnCollecting(cmd, "pipe");
    child.stdin!.on("error", () => undefined); // the child may exit before reading stdin
    child.stdin!.end(cmd.input ?? "");
    return done;
}

let current: Runner = spawnRunner;

/** Runs a command through the current runner (real processes unless a test stubbed it). */
export function run(cmd: Cmd): Promise<CmdResult> {
    countIncus(cmd.argv);
    const env = incusConfEnv(cmd.argv, cmd.env, incusConf());
    return current(env === cmd.env ? cmd : { ...cmd, env });
}

// On globalThis, by a string (a serialized provider carries its own copy of this module, and no symbols).
const INCUS_CONF = "__bluegreenIncusConf";

/** The stack's private incus client config (io/incusTrust.ts), named by INCUS_CONF on incus commands only. */
export function setIncusConf(dir: string | undefined): void {
    (globalThis as unknown as Record<string, string | undefined>)[INCUS_CONF] = dir;
}

function incusConf(): string | undefined {
    return (globalThis as unknown as Record<string, string | undefined>)[INCUS_CONF];
}

/** Names the file each `incus` command appends its kind to (the runner sets it under BLUEGREEN_COUNT_INCUS=1). */
export const COUNT_INCUS_FILE = "BLUEGREEN_COUNT_INCUS_FILE";

/** One line per `incus` command, when counting is on: every process (runner, provider host) appends to the same file. */
function countIncus(argv: readonly string[]): void {
    const file = process.env[COUNT_INCUS_FILE];
    const kind = file ? incusKind(argv) : undefined;
    if (file && kind) fs.appendFileSync(file, kind + "\n");
}

/** Replaces the runner (for unit tests); returns a function that restores the previous one. */
export function setRunner(runner: Runner): () => void {
    const previous = current;
    current = runner;
    return () => {
        current = previous;
    };
}

/** Output kept in an error: all of one stream, or this much of each when both speak. */
const DETAIL_CHARS = 2000;

/**
 * A failed command's error, with the argv and output that explain it. Both streams: a tool
 * may warn on stderr and give its reason on stdout (seed 003).
 */
export function cmdError(cmd: Cmd, result: CmdResult, context?: string): Error {
    const what = result.timedOut ? `timed out after ${cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : `exited ${result.code}`;
    const err = result.stderr.trim();
    const out = result.stdout.trim();
    const detail = err && out ? `${err.slice(0, DETAIL_CHARS / 2)} (stdout: ${out.slice(0, DETAIL_CHARS / 2)})` : (err || out).slice(0, DETAIL_CHARS);
    const e = new Error(`${context ? context + ": " : ""}\`${cmd.argv.join(" ")}\` ${what}${detail ? ": " + detail : ""}`);
    e.name = "cmdError";
    return e;
}

/** Runs a command and throws (see cmdError) unless it exits 0. */
export async function runOrThrow(cmd: Cmd, context?: string): Promise<CmdResult> {
    const result = await run(cmd);
    if (result.code !== 0) {
        throw cmdError(cmd, result, context);
    }
    return result;
}

/**
 * Whether process `pid` on this machine still runs. A zombie does not: where no init reaps
 * (as in these containers), a killed process stays one, and must not hold a lock.
 */
export function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
    } catch {
        return true;
    }
}

/**
 * Starts a long-lived process in its own session, detached from this one, with
 * stdout and stderr appended to `logFile`. Returns its pid.
 */
export function startDetached(argv: readonly string[], logFile: string): number {
    const fd = fs.openSync(logFile, "a", 0o600);
    try {
        fs.fchmodSync(fd, 0o600); // a log may quote what it served: private, as the state beside it
        const [file, ...args] = argv;
        const child = spawn(file, args, { detached: true, stdio: ["ignore", fd, fd] });
        child.unref();
        if (child.pid === undefined) throw new Error(`cannot start ${file} (is it installed? run scripts/setup-host.sh)`);
        return child.pid;
    } finally {
        fs.closeSync(fd);
    }
}

/**
 * Runs a command with its output handed over as it comes (`onStdout`, `onStderr`), or, with
 * `attach`, on this process's own terminal (stdin, stdout and stderr inherited). Resolves
 * with the exit code once it ends; killed (SIGKILL) after `timeoutMs`.
 */
export function runLive(
    cmd: Cmd,
    opts: { attach?: boolean; onStdout?: (chunk: Buffer) => void; onStderr?: (chunk: Buffer) => void } = {},
): Promise<{ code: number; timedOut?: boolean }> {
    return new Promise((resolve) => {
        countIncus(cmd.argv);
        const [file, ...args] = cmd.argv;
        const env = incusConfEnv(cmd.argv, cmd.env, incusConf());
        const child = spawn(file, args, {
            cwd: cmd.cwd,
            env: cmd.cleanEnv ? { ...env } : env ? { ...process.env, ...env } : process.env,
            stdio: opts.attach ? "inherit" : ["pipe", "pipe", "pipe"],
        });
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        if (!opts.attach) {
            child.stdout!.on("data", (b: Buffer) => opts.onStdout?.(b));
            child.stderr!.on("data", (b: Buffer) => opts.onStderr?.(b));
            child.stdin!.on("error", () => undefined);
            child.stdin!.end(cmd.input ?? "");
        }
        child.on("error", (e: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            opts.onStderr?.(Buffer.from(`${e.message}${e.code === "ENOENT" ? ` (is ${file} installed? run scripts/setup-host.sh)` : ""}\n`));
            resolve({ code: 127 });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? (signal ? 128 : 1), ...(timedOut ? { timedOut } : {}) });
        });
    });
}

export interface Started {
    readonly pid: number;
    /** Resolves with the output once it ends (by itself, by `stop`, or killed at its timeout). */
    readonly done: Promise<CmdResult>;
    /** SIGINT to its pid (a load generator then prints its result), SIGKILL after `graceMs`; resolves once it has ended. */
    stop(graceMs?: number): Promise<CmdResult>;
}

/** Starts a command that runs beside this process's work (generated load), bounded by `timeoutMs`, stopped by its pid. */
export function startBounded(cmd: Cmd): Started {
    countIncus(cmd.argv);
    const { child, done, kill } = spawnCollecting(cmd, "ignore");
    return {
        pid: child.pid ?? -1,
        done,
        async stop(graceMs = 5000) {
            kill("SIGINT");
            const hard = setTimeout(() => kill("SIGKILL"), graceMs);
            const r = await done;
            clearTimeout(hard);
            return r;
        },
    };
}
