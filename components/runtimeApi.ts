// HAProxy's runtime API (admin socket) and master CLI (master socket), reached with
// socat on the HAProxy host. Builders and parsers are pure; the helpers run them.

import * as net from "net";
import { Cmd, CmdResult, cmdError, run } from "./exec";
import { HaproxyHost, describeHost, onHost } from "./haproxyHost";
import { sleep } from "./health";
import { COLORS, Color } from "./naming";

/** `socat` sending `commands` (joined by `;`, one line) to a unix socket. */
export function socketCmd(host: HaproxyHost, socket: string, commands: readonly string[], timeoutMs = 10_000): Cmd {
    return onHost(host, ["socat", "-t", "5", "stdio", `unix-connect:${socket}`], { input: `${commands.join("; ")}\n`, timeoutMs });
}

/**
 * One conversation with a HAProxy socket. On this host it is a direct unix-socket
 * connection (no process: the switch's latency depends on it); inside an instance it
 * is socat through `incus exec`.
 */
export function converse(host: HaproxyHost, socket: string, commands: readonly string[], timeoutMs = 10_000): Promise<CmdResult> {
    if (host.placement !== "host") return run(socketCmd(host, socket, commands, timeoutMs));
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
        conn.on("connect", () => conn.end(`${commands.join("; ")}\n`));
        conn.on("data", (b: Buffer) => chunks.push(b));
        conn.on("end", () => done({ code: 0, stdout: Buffer.concat(chunks).toString("utf8"), stderr: "" }));
        conn.on("error", (e) => done({ code: 1, stdout: "", stderr: `${socket}: ${e.message}` }));
    });
}

/** The error for a failed conversation, naming the argv only when a process ran. */
function conversationError(host: HaproxyHost, socket: string, commands: readonly string[], r: CmdResult, context: string): Error {
    return host.placement === "host" ? new Error(`${context}: ${r.stderr}`) : cmdError(socketCmd(host, socket, commands), r, context);
}

export function setWeightCommand(backend: string, server: string, weight: number): string {
    return `set server ${backend}/${server} weight ${weight}`;
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
    readonly weight: number;
}

/** Parses `show servers state` (format version 1). */
export function parseServersState(text: string): ServerState[] {
    const out: ServerState[] = [];
    for (const line of text.split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 8 || line.startsWith("#") || !/^\d+$/.test(f[0])) continue;
        out.push({ backend: f[1], server: f[3], opState: Number(f[5]), weight: Number(f[7]) });
    }
    return out;
}

/**
 * Pure: the color that takes traffic, from live server weights. Undefined when no
 * server has weight; "mixed" when backends disagree or one has both colors up.
 */
export function servedColor(states: readonly ServerState[], backends: readonly string[]): Color | "mixed" | undefined {
    const seen = new Set<Color>();
    let unweighted = 0;
    for (const b of backends) {
        const weighted = states.filter((s) => s.backend === b && s.weight > 0 && (COLORS as readonly string[]).includes(s.server));
        if (weighted.length > 1) return "mixed";
        if (weighted.length === 1) seen.add(weighted[0].server as Color);
        else unweighted++;
    }
    if (seen.size > 1 || (seen.size === 1 && unweighted > 0)) return "mixed";
    return seen.size === 1 ? [...seen][0] : undefined;
}

/** Runs admin-socket commands; throws unless every command answered without an error line. */
export async function adminCommands(host: HaproxyHost, socket: string, commands: readonly string[]): Promise<string> {
    const r = await converse(host, socket, commands);
    if (r.code !== 0) throw conversationError(host, socket, commands, r, `HAProxy runtime API on ${describeHost(host)} did not answer`);
    const bad = r.stdout.split("\n").find((l) => /^(No such|Unknown command|Require|Invalid|Backend is|.*not found)/i.test(l.trim()));
    if (bad) throw new Error(`HAProxy runtime API refused: ${bad.trim()}`);
    return r.stdout;
}

/** `show proc`, or undefined while the master is re-executing (its socket is briefly away). */
export async function showProc(host: HaproxyHost, masterSocket: string): Promise<ProcInfo | undefined> {
    const r = await converse(host, masterSocket, ["show proc"], 5000);
    return r.code === 0 ? parseShowProc(r.stdout) : undefined;
}

export async function serversState(host: HaproxyHost, adminSocket: string): Promise<ServerState[]> {
    return parseServersState(await adminCommands(host, adminSocket, ["show servers state"]));
}

/**
 * Master-worker reload through the master CLI, then waits (bounded) until the
 * master reports the reload: a failed one leaves the old worker serving.
 */
export async function reloadAndWait(host: HaproxyHost, masterSocket: string, timeoutMs = 15_000): Promise<ProcInfo> {
    const before = await showProc(host, masterSocket);
    if (!before) throw new Error(`HAProxy's master CLI (${masterSocket}) on ${describeHost(host)} does not answer; is haproxy running?`);
    const r = await converse(host, masterSocket, ["reload"]);
    if (r.code !== 0) throw conversationError(host, masterSocket, ["reload"], r, "cannot ask HAProxy to reload");
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        await sleep(50);
        const now = await showProc(host, masterSocket);
        if (!now || now.reloads <= before.reloads) continue;
        if (now.failedReloads > 0) {
            throw new Error(`HAProxy could not load the new config (failed reloads: ${now.failedReloads}); the previous worker kept serving`);
        }
        if (now.workers.some((w) => w.reloads === 0)) return now;
    }
    throw new Error(`HAProxy did not finish reloading within ${timeoutMs} ms`);
}
