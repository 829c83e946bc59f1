// HAProxy's runtime API (admin socket) and master CLI (master socket). This program
// always talks to a unix socket on this host: HAProxy's own in dev, an Incus proxy
// device into the instance in staging/prod. Builders and parsers are pure.

import * as net from "net";
import type { LiveServer } from "../model/traffic";
import type { CmdResult } from "./exec";
import { poll, sleep } from "./poll";

/**
 * One conversation: the commands on one line, then `quit`; HAProxy answers and closes.
 * No half-close: an Incus proxy device drops the answer when the client shuts its
 * write side first. `quit`, because the master CLI otherwise waits for more.
 */
export function converse(socket: string, commands: readonly string[], timeoutMs = 10_000): Promise<CmdResult> {
    return new Promise((resolve) => {
        const chunks: Buffer[] = [];
        const conn = net.createConnection(socket);
        // Declared before `done` uses them: Pulumi's closure serializer rejects forward references.
        let timer: NodeJS.Timeout | undefined = undefined;
        let settled = false;
        const done = (r: CmdResult) => {
            if (settled) return;
            settled = true;
            if (timer) clearTimeout(timer);
            conn.destroy();
            resolve(r);
        };
        timer = setTimeout(() => done({ code: 1, stdout: "", stderr: `no answer from ${socket} within ${timeoutMs} ms`, timedOut: true }), timeoutMs);
        conn.on("connect", () => conn.write(`${commands.join("; ")}\nquit\n`));
        conn.on("data", (b: Buffer) => chunks.push(b));
        conn.on("end", () => done({ code: 0, stdout: Buffer.concat(chunks).toString("utf8"), stderr: "" }));
        conn.on("error", (e) => done({ code: 1, stdout: "", stderr: e.message }));
    });
}

/**
 * converse, tried up to 3 times until `parse` makes sense of the answer. HAProxy's CLI
 * takes 10 connections at a time, and through a proxy device the others are hung up
 * on. No retry when nothing listens (ENOENT) or HAProxy is silent (timeout).
 */
async function ask<T>(
    socket: string,
    commands: readonly string[],
    timeoutMs: number,
    parse: (stdout: string) => T | undefined,
): Promise<{ value: T | undefined; last: CmdResult }> {
    for (let attempt = 1; ; attempt++) {
        const last = await converse(socket, commands, timeoutMs);
        const value = last.code === 0 ? parse(last.stdout) : undefined;
        if (value !== undefined || attempt === 3 || last.timedOut || /ENOENT/.test(last.stderr)) return { value, last };
        await sleep(50 * attempt);
    }
}

/** Why a socket gave nothing useful: an Incus proxy accepts even when HAProxy is down. */
function noAnswer(socket: string, r: CmdResult): Error {
    return new Error(`HAProxy's runtime API (${socket}) did not answer${r.stderr ? `: ${r.stderr}` : ""}; is haproxy running? \`pulumi up\` starts it`);
}

/** Pure: sets a map entry at runtime; the key must already be in the map HAProxy loaded. */
export function setMapCommand(file: string, key: string, value: string): string {
    return `set map ${file} ${key} ${value}`;
}

export interface ProcInfo {
    readonly masterPid: number;
    readonly reloads: number;
    readonly failedReloads: number;
    /** Current workers only (old workers finishing their connections are left out). */
    readonly workers: readonly { pid: number; reloads: number }[];
}

/** Parses the master CLI's `show proc` (HAProxy 2.6 layout). */
export function parseShowProc(text: string): ProcInfo | undefined {
    let section = "";
    let master: { pid: number; reloads: number; failed: number } | undefined;
    const workers: { pid: number; reloads: number }[] = [];
    for (const line of text.split("\n")) {
        const t = line.trim();
        if (t.startsWith("#")) {
            section = t.startsWith("#<PID>") ? "" : t.slice(1).trim();
            continue;
        }
        const m = /^(\d+)\s+(master|worker)\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?/.exec(t);
        if (!m) continue;
        if (m[2] === "master") master = { pid: Number(m[1]), reloads: Number(m[3]), failed: Number(m[4] ?? 0) };
        else if (section === "workers") workers.push({ pid: Number(m[1]), reloads: Number(m[3]) });
    }
    return master ? { masterPid: master.pid, reloads: master.reloads, failedReloads: master.failed, workers } : undefined;
}

export interface ServerState {
    readonly backend: string;
    readonly server: string;
    /** 0 stopped, 1 starting, 2 running, 3 stopping (srv_op_state). */
    readonly opState: number;
    /** srv_admin_state flags: 0 ready; maintenance (0x01, 0x02, 0x04, 0x20, 0x40) or drain (0x08, 0x10) otherwise. */
    readonly adminState: number;
    readonly weight: number;
}

/** Pure: the traffic view of a server: a drained or maintained server takes no new requests. */
export function liveServer(s: ServerState): LiveServer {
    return { backend: s.backend, server: s.server, weight: s.weight, draining: s.adminState !== 0 };
}

/** Pure: puts a server in drain: no new requests, its sessions finish (seed 002: `set server … state drain`). */
export function drainCommand(backend: string, server: string): string {
    return `set server ${backend}/${server} state drain`;
}

/** Pure: current sessions per `backend/server`, from `show stat` (CSV with a `# pxname,svname,…` header). */
export function parseStatSessions(csv: string): Map<string, number> {
    const lines = csv.split("\n");
    const header =
        lines
            .find((l) => l.startsWith("# "))
            ?.slice(2)
            .split(",") ?? [];
    const [px, sv, scur] = ["pxname", "svname", "scur"].map((k) => header.indexOf(k));
    const out = new Map<string, number>();
    if (px < 0 || sv < 0 || scur < 0) return out;
    for (const line of lines) {
        if (line.startsWith("#") || line.trim() === "") continue;
        const f = line.split(",");
        if (f[sv] === "FRONTEND" || f[sv] === "BACKEND") continue;
        out.set(`${f[px]}/${f[sv]}`, Number(f[scur]) || 0);
    }
    return out;
}

/** Current sessions per `backend/server`. */
export async function serverSessions(adminSocket: string): Promise<Map<string, number>> {
    return parseStatSessions(await adminCommands(adminSocket, ["show stat"]));
}

/** Parses `show servers state` (format version 1). */
export function parseServersState(text: string): ServerState[] {
    const out: ServerState[] = [];
    for (const line of text.split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 8 || line.startsWith("#") || !/^\d+$/.test(f[0])) continue;
        out.push({ backend: f[1], server: f[3], opState: Number(f[5]), adminState: Number(f[6]), weight: Number(f[7]) });
    }
    return out;
}

/** Ends every batch, so an empty answer (HAProxy down behind a proxy device) is never taken for success. */
const SENTINEL = "show version";

/** Runs admin-socket commands; throws unless HAProxy answered all of them without an error line. */
export async function adminCommands(socket: string, commands: readonly string[]): Promise<string> {
    // Retrying is safe: every command bluegreen sends is a read or sets an absolute weight.
    const { value: answer, last } = await ask(socket, [...commands, SENTINEL], 10_000, (stdout) => {
        const lines = stdout.trimEnd().split("\n");
        return /^\d+\.\d+/.test(lines.pop() ?? "") ? lines.join("\n") : undefined;
    });
    if (answer === undefined) throw noAnswer(socket, last);
    const bad = answer.split("\n").find((l) => /^(No such|Unknown command|Require|Invalid|Backend is|.*not found)/i.test(l.trim()));
    if (bad) throw new Error(`HAProxy runtime API refused: ${bad.trim()}`);
    return answer;
}

/** `show proc`, or undefined while haproxy is down or the master re-executes (its socket is briefly away). */
export async function showProc(masterSocket: string): Promise<ProcInfo | undefined> {
    return (await ask(masterSocket, ["show proc"], 5000, parseShowProc)).value;
}

export async function serversState(adminSocket: string): Promise<ServerState[]> {
    return parseServersState(await adminCommands(adminSocket, ["show servers state"]));
}

/**
 * Master-worker reload through the master CLI, then waits (bounded) until the
 * master reports the reload: a failed one leaves the old worker serving.
 */
export async function reloadAndWait(masterSocket: string, timeoutMs = 15_000): Promise<ProcInfo> {
    const before = await showProc(masterSocket);
    if (!before) throw new Error(`HAProxy's master CLI (${masterSocket}) does not answer; is haproxy running? \`pulumi up\` starts it`);
    const r = await converse(masterSocket, ["reload"]);
    if (r.code !== 0) throw new Error(`cannot ask HAProxy to reload over ${masterSocket}: ${r.stderr}`);
    const done = await poll(
        async () => {
            const now = await showProc(masterSocket);
            if (!now || now.reloads <= before.reloads) return undefined;
            if (now.failedReloads > 0) {
                throw new Error(`HAProxy could not load the new config (failed reloads: ${now.failedReloads}); the previous worker kept serving`);
            }
            return now.workers.some((w) => w.reloads === 0) ? now : undefined;
        },
        { intervalMs: 50, timeoutMs },
    );
    if (!done) throw new Error(`HAProxy did not finish reloading within ${timeoutMs} ms`);
    return done;
}
