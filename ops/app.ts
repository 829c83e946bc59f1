// `npm run local -- app exec|logs ...`: Kamal's `app exec` and `app logs`, on the containers of
// a stack. They read only the stack's config (validated as everywhere) and the live active-color
// record; they reach the containers through the incus CLI, so `bluegreen:incus.remote` works as
// the local daemon does. Never the runner's state.

import * as path from "path";
import { StringDecoder } from "string_decoder";
import { getInstance, operatorExecCmd, readInstanceFile } from "../components/io/incus";
import { runLive } from "../components/io/exec";
import { sleep } from "../components/io/poll";
import { StackConfig, incusTrustOf, loadConfig } from "../components/model/config";
import { useIncusTrust } from "../components/io/incusTrust";
import { refusal } from "../components/model/errors";
import { COLORS, Color, containerName, nodesOf, statefulName } from "../components/model/naming";
import { IncusTarget, incusTarget, instanceRef } from "../components/model/traffic/topology";
import { auditContext } from "../components/plan";
import { APP_LOG } from "../components/release/deploy";
import { activeColorPath, readActiveColor } from "../components/release/safety/history";
import { describeHost, readHostFile } from "../components/io/haproxyHost";
import { accessLogPath, mergeByTime } from "../components/model/edge/accessLog";
import { Project, UsageError, loadProject, loadStackConfig } from "../runner/project";

export const APP_USAGE = `usage: npm run local -- app exec --stack <name> (--component <c> [--color <color>] [--node <n>] | --service <s>)
                        [--interactive] [--timeout <seconds>] -- <command> [args...]
       npm run local -- app logs --stack <name> [--component <c> | --service <s>] [--color <color>] [--node <n>]
                        [-n <lines>] [-f]`;

/** Kamal's default for `app logs`. */
export const DEFAULT_LINES = 100;
/** A one-off command (a migration) may be long; it is still bounded. */
export const DEFAULT_EXEC_TIMEOUT_S = 3600;
/** How often `app logs -f` pulls each log. */
export const FOLLOW_INTERVAL_MS = 1000;

export interface AppArgs {
    readonly verb: "exec" | "logs";
    readonly stack: string;
    readonly cwd: string;
    readonly configFile?: string;
    readonly component?: string;
    readonly service?: string;
    readonly color?: Color;
    readonly node?: number;
    readonly interactive: boolean;
    readonly timeoutS: number;
    readonly lines: number;
    readonly follow: boolean;
    /** exec: the user's command, as given after `--`. */
    readonly command: readonly string[];
    /** `logs` (not `app logs`): the proxy's access log too, interleaved by time. */
    readonly withProxy?: boolean;
    /** `logs --proxy`: the proxy's access log only. */
    readonly proxyOnly?: boolean;
}

function wholeNumber(flag: string, v: string, min: number): number {
    if (!/^\d+$/.test(v) || Number(v) < min)
        throw new UsageError(`${flag} expects a whole number${min > 0 ? ` of at least ${min}` : ""}, got ${v}\n${APP_USAGE}`);
    return Number(v);
}

/** Pure: `app <verb> ...` as given on the command line (argv starts at `app`). */
export function parseAppArgs(argv: readonly string[], cwd: string, withProxy = false): AppArgs {
    const sep = argv.indexOf("--");
    const head = sep < 0 ? argv : argv.slice(0, sep);
    const command = sep < 0 ? [] : argv.slice(sep + 1);
    const verb = head[1];
    if (verb !== "exec" && verb !== "logs") throw new UsageError(`app: expected exec or logs, got ${verb ?? "nothing"}\n${APP_USAGE}`);
    const a: { -readonly [K in keyof AppArgs]?: AppArgs[K] } = { verb, cwd, interactive: false, follow: false };
    const given = new Set<string>();
    for (let i = 2; i < head.length; i++) {
        const arg = head[i];
        const value = () => {
            const v = head[++i];
            if (v === undefined || v.startsWith("-")) throw new UsageError(`${arg} needs a value\n${APP_USAGE}`);
            return v;
        };
        given.add(arg);
        if (arg === "--stack" || arg === "-s") a.stack = value();
        else if (arg === "--cwd") a.cwd = path.resolve(value());
        else if (arg === "--config-file") a.configFile = value();
        else if (arg === "--component" || arg === "-c") a.component = value();
        else if (arg === "--service") a.service = value();
        else if (arg === "--color") {
            const v = value();
            if (!(COLORS as readonly string[]).includes(v)) throw new UsageError(`--color expects blue or green, got ${v}`);
            a.color = v as Color;
        } else if (arg === "--node") a.node = wholeNumber(arg, value(), 1);
        else if (verb === "exec" && (arg === "--interactive" || arg === "-i")) a.interactive = true;
        else if (verb === "exec" && arg === "--timeout") a.timeoutS = wholeNumber(arg, value(), 1);
        else if (verb === "logs" && (arg === "--lines" || arg === "-n")) a.lines = wholeNumber(arg, value(), 0);
        else if (verb === "logs" && (arg === "--follow" || arg === "-f")) a.follow = true;
        else if (verb === "logs" && arg === "--proxy" && withProxy) a.proxyOnly = true;
        else if (arg.startsWith("-")) throw new UsageError(`app ${verb}: unknown option ${arg}\n${APP_USAGE}`);
        else throw new UsageError(`app ${verb}: unexpected ${arg}${verb === "exec" ? ": put the command after --" : ""}\n${APP_USAGE}`);
    }
    if (!a.stack) throw new UsageError(`--stack <name> is required\n${APP_USAGE}`);
    if (a.component && a.service) throw new UsageError(`app ${verb}: give --component or --service, not both`);
    if (a.service && (a.color || a.node)) throw new UsageError(`app ${verb}: a stateful service has one container: --color and --node are for --component`);
    if (a.node && !a.component) throw new UsageError(`app ${verb}: --node needs --component`);
    if (verb === "exec") {
        if (!a.component && !a.service) throw new UsageError(`app exec: name the container's --component (or --service)\n${APP_USAGE}`);
        if (command.length === 0) throw new UsageError(`app exec: no command: give it after --, e.g. -- ls /opt/bluegreen/app\n${APP_USAGE}`);
    } else if (sep >= 0) throw new UsageError(`app logs takes no command after --\n${APP_USAGE}`);
    if (a.proxyOnly && (a.component || a.service || a.color || a.node))
        throw new UsageError(`logs --proxy shows the proxy's log only: leave out --component, --service, --color and --node`);
    return {
        ...(a as AppArgs),
        ...(withProxy ? { withProxy: true } : {}),
        timeoutS: a.timeoutS ?? DEFAULT_EXEC_TIMEOUT_S,
        lines: a.lines ?? DEFAULT_LINES,
        command,
    };
}

/** Pure: the containers `app exec|logs` reach, in config order (components by name, nodes by number). */
export function selectContainers(config: StackConfig, sel: Pick<AppArgs, "component" | "service" | "node">, color: Color | undefined): string[] {
    if (sel.service) {
        const svc = config.stateful.find((s) => s.name === sel.service);
        if (!svc) {
            const names = config.stateful.map((s) => s.name);
            throw new UsageError(
                `stack ${config.stack} has no stateful service ${sel.service} (bluegreen:stateful: ${names.length ? names.join(", ") : "none"})`,
            );
        }
        return [statefulName(config.prefix, svc.name)];
    }
    const components = sel.component ? config.components.filter((c) => c.name === sel.component) : config.components;
    if (components.length === 0)
        throw new UsageError(
            `stack ${config.stack} has no component ${sel.component} (bluegreen:components: ${config.components.map((c) => c.name).join(", ")})`,
        );
    if (!color) throw new Error("selectContainers: a component's containers need a color");
    const deployed = COLORS.filter((c) => config.colors[c]);
    if (!config.colors[color])
        throw refusal({
            what: `color ${color} is not in bluegreen:colors of stack ${config.stack}, so it has no containers`,
            next: deployed.length > 0 ? `Give --color ${deployed.join(" or --color ")}` : `Deploy a color first (bluegreen:colors, then up)`,
            untouched: "Nothing was run",
        });
    return components.flatMap((c) => {
        if (sel.node === undefined) return nodesOf(c.nodes).map((n) => containerName(config.prefix, c.name, color, n));
        if (c.nodes === 1) throw new UsageError(`component ${c.name} is a pool of one (${containerName(config.prefix, c.name, color)}): leave out --node`);
        if (sel.node > c.nodes) throw new UsageError(`component ${c.name} has nodes 1 to ${c.nodes}; --node ${sel.node} is not one of them`);
        return [containerName(config.prefix, c.name, color, sel.node)];
    });
}

/** The color to reach: the one given, else the one the live active-color record names; fails closed when it cannot be read. */
async function resolveColor(config: StackConfig, given: Color | undefined): Promise<Color> {
    if (given) return given;
    const { host, stateDir } = auditContext(config);
    const where = `${activeColorPath(stateDir)} on ${describeHost(host)}`;
    let live: Color | undefined;
    try {
        live = await readActiveColor(host, stateDir);
    } catch (e) {
        throw refusal({
            what: `cannot read the live active color (${where}): ${(e as Error).message}`,
            next: "Give --color blue or --color green",
            untouched: "Nothing was run",
        });
    }
    if (!live)
        throw refusal({ what: `no color serves traffic yet: ${where} names none`, next: "Give --color blue or --color green", untouched: "Nothing was run" });
    return live;
}

/** Pure: turns a stream of chunks into whole lines, each with a prefix; `end` gives what is left. */
export class LinePrefixer {
    private rest = "";
    constructor(private readonly prefix: string) {}
    push(chunk: string): string {
        if (!this.prefix) return chunk;
        const text = this.rest + chunk;
        const cut = text.lastIndexOf("\n") + 1;
        this.rest = text.slice(cut);
        return cut === 0 ? "" : this.prefixed(text.slice(0, cut));
    }
    end(): string {
        const out = this.rest ? this.prefixed(this.rest + "\n") : "";
        this.rest = "";
        return out;
    }
    /** `lines` ends with a newline. */
    private prefixed(lines: string): string {
        return lines
            .slice(0, -1)
            .split("\n")
            .map((l) => `${this.prefix}${l}\n`)
            .join("");
    }
}

/** Pure: the prefix of a container's lines: its name when several are shown, none for one. */
export function linePrefix(name: string, count: number): string {
    return count > 1 ? `[${name}] ` : "";
}

async function loadStack(args: AppArgs): Promise<{ config: StackConfig; target: IncusTarget }> {
    const project: Project = loadProject(args.cwd);
    const cfg = loadStackConfig(project, args.stack, args.configFile);
    const config = loadConfig(cfg.values, (k) => cfg.secretKeys.includes(k), args.stack);
    await useIncusTrust(incusTrustOf(cfg.values, config)); // the stack's trust secrets, if set (README: Trust)
    return { config, target: incusTarget(config.incus.remote) };
}

async function containersOf(args: AppArgs, config: StackConfig): Promise<string[]> {
    const color = args.service ? undefined : await resolveColor(config, args.color);
    return selectContainers(config, args, color);
}

/** `app exec`: the command in each container, one after the other; none runs unless all are RUNNING. */
export async function appExec(args: AppArgs, signal?: AbortSignal): Promise<number> {
    const { config, target } = await loadStack(args);
    const names = await containersOf(args, config);
    if (args.interactive && names.length > 1)
        throw refusal({
            what: `--interactive runs in one container; ${names.length} match (${names.join(", ")})`,
            next: "Add --node <n>, or leave out --interactive",
            untouched: "Nothing was run",
        });
    if (args.interactive && !process.stdin.isTTY) throw new UsageError("app exec --interactive needs a terminal on stdin; leave it out to run without one");
    // Checked before anything runs, so a command meant for a pool runs on all of it or on none.
    const states = await Promise.all(names.map(async (n) => ({ n, inst: await getInstance(target, n) })));
    const down = states.filter((s) => s.inst?.status !== "Running");
    if (down.length > 0)
        throw refusal({
            what: `app exec needs every selected container RUNNING; ${down.map((s) => `${instanceRef(target, s.n)} is ${s.inst ? s.inst.status.toUpperCase() : "ABSENT"}`).join(", ")}`,
            next: [
                `Run \`npm run local -- up --stack ${config.stack}\` to heal it`,
                ...(args.component && !args.node && names.length > 1 ? ["pick a running node with --node <n>"] : []),
            ],
            untouched: "The command ran nowhere",
        });
    const failed: string[] = [];
    for (const name of names) {
        if (signal?.aborted) {
            failed.push(`${name} (not run: canceled)`);
            continue;
        }
        const cmd = operatorExecCmd(target, name, args.command, { interactive: args.interactive, timeoutMs: args.timeoutS * 1000 });
        const out = new LinePrefixer(linePrefix(name, names.length));
        const err = new LinePrefixer(linePrefix(name, names.length));
        // A character split across chunks is decoded whole.
        const [outText, errText] = [new StringDecoder("utf8"), new StringDecoder("utf8")];
        const r = await runLive(cmd, {
            attach: args.interactive,
            onStdout: (b) => process.stdout.write(out.push(outText.write(b))),
            onStderr: (b) => process.stderr.write(err.push(errText.write(b))),
        });
        process.stdout.write(out.push(outText.end()) + out.end());
        process.stderr.write(err.push(errText.end()) + err.end());
        if (r.timedOut) failed.push(`${name} (killed after --timeout ${args.timeoutS} s)`);
        else if (r.code !== 0) failed.push(`${name} (exit ${r.code})`);
        if (names.length === 1) {
            if (r.timedOut) process.stderr.write(`error: app exec: ${failed[0]}\n`);
            return r.timedOut ? 124 : r.code;
        }
    }
    if (failed.length > 0) {
        process.stderr.write(`error: app exec failed in ${failed.length} of ${names.length} containers: ${failed.join(", ")}\n`);
        return 1;
    }
    return 0;
}

/** Pure: the last `n` lines of a log (a last line without its newline counts). */
export function lastLines(text: string, n: number): string[] {
    if (n === 0 || text === "") return [];
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-n);
}

/** How far `app logs -f` has read one log: up to the end of its last whole line. */
export interface LogCursor {
    readonly offset: number;
    /** The text just before `offset`, to tell a log that grew from one that was replaced. */
    readonly mark: string;
}

const MARK_CHARS = 64;

/** Pure: the cursor at the end of the whole lines of `text`. */
export function cursorAt(text: string): LogCursor {
    const offset = text.lastIndexOf("\n") + 1;
    return { offset, mark: text.slice(Math.max(0, offset - MARK_CHARS), offset) };
}

/**
 * Pure: the whole lines added since `cursor`, and the next cursor. A log shorter than the cursor,
 * or whose text before it changed (truncated, or the container was replaced), is read from its start.
 */
export function newLines(cursor: LogCursor, text: string): { lines: string[]; next: LogCursor; restarted: boolean } {
    const kept = text.length >= cursor.offset && text.slice(Math.max(0, cursor.offset - MARK_CHARS), cursor.offset) === cursor.mark;
    const from = kept ? cursor.offset : 0;
    const next = cursorAt(text);
    if (next.offset <= from) return { lines: [], next: kept ? cursor : { offset: 0, mark: "" }, restarted: !kept };
    const lines = text.slice(from, next.offset).split("\n");
    lines.pop();
    return { lines, next, restarted: !kept };
}

/** One container's log, or why it cannot be read; a log not written yet is empty. */
async function pullLog(target: IncusTarget, name: string): Promise<string | Error> {
    try {
        return (await readInstanceFile(target, name, APP_LOG)) ?? "";
    } catch (e) {
        return e as Error;
    }
}

function writeLines(prefix: string, lines: readonly string[]): void {
    if (lines.length > 0) process.stdout.write(lines.map((l) => `${prefix}${l}\n`).join(""));
}

interface LogSourceRef {
    readonly name: string;
    readonly prefix: string;
    read(): Promise<string | Error>;
}

/** The logs to show: the containers' app logs, and with `logs`, the proxy's access log (bluegreen:accessLog). */
async function logSources(args: AppArgs, config: StackConfig, target: IncusTarget): Promise<LogSourceRef[]> {
    const names = args.proxyOnly ? [] : await containersOf(args, config);
    const sources: LogSourceRef[] = names.map((n) => ({
        name: n,
        prefix: args.withProxy ? `[${n}] ` : linePrefix(n, names.length),
        read: () => pullLog(target, n),
    }));
    if (!args.withProxy) return sources;
    const { host, stateDir } = auditContext(config);
    const file = accessLogPath({ stateDir });
    if (!config.accessLog) {
        const why = `stack ${config.stack} has no access log (bluegreen:accessLog is unset)`;
        if (args.proxyOnly)
            throw refusal({ what: why, next: "Set bluegreen:accessLog: {} and run up, then requests are logged", untouched: "Nothing was read" });
        process.stderr.write(`warning: ${why}; showing the app's log only\n`);
        return sources;
    }
    const proxy: LogSourceRef = {
        name: `haproxy ${file}`,
        prefix: "[haproxy] ",
        read: async () => {
            try {
                return (await readHostFile(host, file)) ?? "";
            } catch (e) {
                return e as Error;
            }
        },
    };
    return [...sources, proxy];
}

/** Prints sources' lines: interleaved by time with `logs`, source by source with `app logs` (its log carries no times). */
function printLines(args: AppArgs, batch: readonly { prefix: string; lines: readonly string[] }[], limit?: number): void {
    if (!args.withProxy) {
        for (const b of batch) writeLines(b.prefix, b.lines);
        return;
    }
    const merged = mergeByTime(batch);
    writeLines("", limit === undefined ? merged : merged.slice(-limit || merged.length));
}

/**
 * `app logs` / `logs`: the last lines of each log, each line prefixed with its source when
 * several are shown; `logs` adds the proxy's access log and interleaves them by time. `-f` then
 * pulls every log each FOLLOW_INTERVAL_MS and prints the lines added, until Ctrl-C. Pulls, not
 * `incus exec tail -F`: a file pull never loses output, and leaves no process behind.
 */
export async function appLogs(args: AppArgs, signal?: AbortSignal): Promise<number> {
    const { config, target } = await loadStack(args);
    const sources = await logSources(args, config, target);
    const cursors = new Map<string, LogCursor>();
    const problems = new Map<string, string>();
    const texts = await Promise.all(sources.map((src) => src.read()));
    const first: { prefix: string; lines: string[] }[] = [];
    sources.forEach((src, i) => {
        const text = texts[i];
        if (text instanceof Error) {
            problems.set(src.name, text.message);
            process.stderr.write(`error: ${src.name}: ${text.message}\n`);
            return;
        }
        first.push({ prefix: src.prefix, lines: args.lines === 0 ? [] : lastLines(text, args.lines) });
        cursors.set(src.name, cursorAt(text));
    });
    printLines(args, first, args.lines);
    if (!args.follow) {
        if (problems.size > 0) process.stderr.write(`error: could not read ${problems.size} of ${sources.length} logs: ${[...problems.keys()].join(", ")}\n`);
        return problems.size > 0 ? 1 : 0;
    }
    process.stderr.write(`following ${sources.length} log${sources.length > 1 ? "s" : ""} (pulled every ${FOLLOW_INTERVAL_MS / 1000} s); Ctrl-C stops\n`);
    while (!signal?.aborted) {
        await sleep(FOLLOW_INTERVAL_MS);
        if (signal?.aborted) break;
        const now = await Promise.all(sources.map((src) => src.read()));
        const batch: { prefix: string; lines: string[] }[] = [];
        sources.forEach((src, i) => {
            const name = src.name;
            const text = now[i];
            if (text instanceof Error) {
                // Said once per cause, then tried again at each poll: a container being replaced comes back.
                if (problems.get(name) !== text.message)
                    process.stderr.write(`warning: ${name}: ${text.message}; trying again every ${FOLLOW_INTERVAL_MS / 1000} s\n`);
                problems.set(name, text.message);
                return;
            }
            if (problems.delete(name)) process.stderr.write(`${name}: readable again\n`);
            const cursor = cursors.get(name);
            if (!cursor) {
                batch.push({ prefix: src.prefix, lines: lastLines(text, args.lines) });
                cursors.set(name, cursorAt(text));
                return;
            }
            const step = newLines(cursor, text);
            if (step.restarted) process.stderr.write(`${name}: its log was replaced or truncated; reading it from the start\n`);
            batch.push({ prefix: src.prefix, lines: step.lines });
            cursors.set(name, step.next);
        });
        printLines(args, batch);
    }
    return 0;
}

/** `app exec|logs`, from the command line (runner/cli.ts hands over argv from `app`); `logs ...` is `app logs` with the proxy's log. */
export async function appCommand(argv: readonly string[], signal?: AbortSignal): Promise<number> {
    const args = argv[0] === "logs" ? parseAppArgs(["app", ...argv], process.cwd(), true) : parseAppArgs(argv, process.cwd());
    return args.verb === "exec" ? appExec(args, signal) : appLogs(args, signal);
}
