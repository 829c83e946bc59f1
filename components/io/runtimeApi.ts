// HAProxy's runtime API (admin socket) and master CLI (master socket), over a channel
// (model/traffic/topology.ts AdminChannel): a unix socket on this host (HAProxy's own in dev, an
// Incus proxy device into the instance in staging/prod), or, with an Incus remote, one
// `incus exec` of socat inside the instance per batch. Builders and parsers are pure.

import * as net from "net";
import { AdminChannel, describeChannel, instanceRef } from "../model/traffic/topology";
import type { LiveServer } from "../model/traffic/traffic";
import { Cmd, CmdResult, run } from "./exec";
import { execCmd } from "./incus";
import { poll, sleep } from "./poll";

/** A channel, or the path of a unix socket on this host. */
export type Channel = AdminChannel | string;

function channelOf(c: Channel): AdminChannel {
    return typeof c === "string" ? { via: "socket", socket: c } : c;
}

/** Printed after socat's output, with its exit code: Incus can lose an exec's output, never silently now. */
export const EXEC_SENTINEL = "__bluegreen_exec_end__";

/**
 * Constant: socat to the socket `$1`, then the sentinel and socat's exit code. `-t 10`: after
 * stdin ends, socat waits for HAProxy's answer (HAProxy closes after `quit`) instead of 0.5 s.
 */
export const SOCAT_SCRIPT = `socat -t 10 - "UNIX-CONNECT:$1"; rc=$?; echo; echo "${EXEC_SENTINEL} $rc"`;

/** Pure: one exec of socat inside the instance, the commands on stdin. */
export function socatExecCmd(c: Extract<AdminChannel, { via: "exec" }>, commands: readonly string[], timeoutMs: number): Cmd {
    return execCmd(c.target, c.instance, ["sh", "-c", SOCAT_SCRIPT, "sh", c.socket], { input: `${commands.join("; ")}\nquit\n`, timeoutMs });
}

/** Pure: socat's output and exit code, or undefined when the sentinel is missing (the exec's output was lost). */
export function parseSentinel(stdout: string): { body: string; code: number } | undefined {
    const m = new RegExp(`\\n${EXEC_SENTINEL} (\\d+)\\n?$`).exec(stdout);
    if (!m) return undefined;
    return { body: stdout.slice(0, m.index), code: Number(m[1]) };
}

/** One conversation over an exec channel; a missing sentinel is a failure with `lost`. */
async function execConverse(
    c: Extract<AdminChannel, { via: "exec" }>,
    commands: readonly string[],
    timeoutMs: number,
): Promise<CmdResult & { lost?: boolean }> {
    // Room for Incus's own round trip over the network on top of HAProxy's answer.
    const r = await run(socatExecCmd(c, commands, timeoutMs + 15_000));
    if (r.timedOut) return { code: 1, stdout: "", stderr: `no answer from ${describeChannel(c)} within ${timeoutMs + 15_000} ms`, timedOut: true };
    const s = parseSentinel(r.stdout);
    if (!s)
        return {
            code: 1,
            stdout: "",
            stderr: `${describeChannel(c)}: the exec's output was lost (exit ${r.code})${r.stderr ? `: ${r.stderr.trim()}` : ""}`,
            lost: true,
        };
    if (s.code !== 0) return { code: s.code, stdout: s.body, stderr: `socat to ${c.socket} failed (${s.code}): ${r.stderr.trim()}` };
    return { code: 0, stdout: s.body, stderr: "" };
}

/**
 * One conversation: the commands on one line, then `quit`; HAProxy answers and closes.
 * No half-close: an Incus proxy device drops the answer when the client shuts its
 * write side first. `quit`, because the master CLI otherwise waits for more.
 */
export function converse(channel: Channel, commands: readonly string[], timeoutMs = 10_000): Promise<CmdResult> {
    const c = channelOf(channel);
    if (c.via === "exec") return execConverse(c, commands, timeoutMs);
    const socket = c.socket;
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
 * on; over exec, Incus may lose the output (no sentinel). No retry when nothing listens
 * (ENOENT, socat's "No such file") or HAProxy is silent (timeout). Only for reads and
 * idempotent writes: the master CLI's `reload` never goes through here.
 */
async function ask<T>(
    socket: Channel,
    commands: readonly string[],
    timeoutMs: number,
    parse: (stdout: string) => T | undefined,
): Promise<{ value: T | undefined; last: CmdResult }> {
    for (let attempt = 1; ; attempt++) {
        const last = await converse(socket, commands, timeoutMs);
        const value = last.code === 0 ? parse(last.stdout) : undefined;
        if (value !== undefined || attempt === 3 || last.timedOut || /ENOENT|No such file/.test(last.stderr)) return { value, last };
        await sleep(50 * attempt);
    }
}

/** Why a socket gave nothing useful: an Incus proxy accepts even when HAProxy is down. */
function noAnswer(socket: Channel, r: CmdResult): Error {
    return new Error(
        `HAProxy's runtime API (${describeChannel(channelOf(socket))}) did not answer${r.stderr ? `: ${r.stderr}` : ""}; is haproxy running? \`pulumi up\` starts it`,
    );
}

/** Pure: how an operator sends one command over the channel by hand, for a refusal's next step. */
export function readyHint(channel: Channel, command: string): string {
    const c = channelOf(channel);
    if (c.via === "socket") return `\`echo "${command}" | socat stdio ${c.socket}\``;
    return `\`echo "${command}" | incus exec ${instanceRef(c.target, c.instance)} -- socat stdio ${c.socket}\``;
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

/** Pure: takes a server out of drain or maintenance: it takes requests again. */
export function readyCommand(backend: string, server: string): string {
    return `set server ${backend}/${server} state ready`;
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
export async function serverSessions(adminSocket: Channel): Promise<Map<string, number>> {
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
export async function adminCommands(socket: Channel, commands: readonly string[]): Promise<string> {
    // Retrying is safe: every command bluegreen sends is a read or sets an absolute weight.
    const { value: answer, last } = await ask(socket, [...commands, SENTINEL], 10_000, adminAnswer);
    if (answer === undefined) throw noAnswer(socket, last);
    const bad = refusedLine(answer);
    if (bad) throw new Error(`HAProxy runtime API refused: ${bad}`);
    return answer;
}

/** Pure: the answer to a batch that ended with `show version`, without it; undefined when it did not end so. */
export function adminAnswer(stdout: string): string | undefined {
    const lines = stdout.trimEnd().split("\n");
    return /^\d+\.\d+/.test(lines.pop() ?? "") ? lines.join("\n") : undefined;
}

/** Pure: the first line of an answer that says HAProxy refused a command. */
export function refusedLine(answer: string): string | undefined {
    return answer
        .split("\n")
        .find((l) => /^(No such|Unknown command|Require|Invalid|Backend is|.*not found)/i.test(l.trim()))
        ?.trim();
}

/** `show proc`, or undefined while haproxy is down or the master re-executes (its socket is briefly away). */
export async function showProc(masterSocket: Channel): Promise<ProcInfo | undefined> {
    return (await ask(masterSocket, ["show proc"], 5000, parseShowProc)).value;
}

export async function serversState(adminSocket: Channel): Promise<ServerState[]> {
    return parseServersState(await adminCommands(adminSocket, ["show servers state"]));
}

/**
 * Master-worker reload through the master CLI, then waits (bounded) until the
 * master reports the reload: a failed one leaves the old worker serving.
 */
export async function reloadAndWait(masterSocket: Channel, timeoutMs = 15_000): Promise<ProcInfo> {
    const name = describeChannel(channelOf(masterSocket));
    const before = await showProc(masterSocket);
    if (!before) throw new Error(`HAProxy's master CLI (${name}) does not answer; is haproxy running? \`pulumi up\` starts it`);
    // Not idempotent, so never retried: a lost exec output (no sentinel) is judged by the reload counter below.
    const r = await converse(masterSocket, ["reload"]);
    if (r.code !== 0 && !(r as { lost?: boolean }).lost) throw new Error(`cannot ask HAProxy to reload over ${name}: ${r.stderr}`);
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
