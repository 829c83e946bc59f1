// The offline runner: `npm run local -- <preview|up|refresh|destroy|outputs> --stack <name> [--json]`.
// Runs the Pulumi program without the Pulumi CLI (see runner/engine.ts).

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { RunResult } from "./engine";
import type { Project } from "./project";
import { isSecretWrapper } from "./secrets";

import { UsageError } from "./errors";

/** Loaded when a command needs them: start-up time is most of a fast rollback. */

const lazy = {
    project: () => require("./project") as typeof import("./project"),
    state: () => require("./state") as typeof import("./state"),
    engine: () => require("./engine") as typeof import("./engine"),
    host: () => require("./host") as typeof import("./host"),
    providers: () => require("./providers") as typeof import("./providers"),
    markdown: () => require("./markdown") as typeof import("./markdown"),
};

const USAGE = `usage: npm run local -- <command> --stack <name> [options]

commands:
  preview     show each resource's planned step and property changes; changes nothing
  up          create, update, replace and delete resources to match the program
  refresh     read live state; drift shows as changes
  destroy     delete every resource of the stack
  outputs     print the stack outputs
  status      the stack at a glance from live state: active color (config, file, HAProxy),
              each container's state and health, HAProxy's weights, recent history
  config set <key> [<value>] [--secret]
              write a value into Pulumi.<stack>.yaml (secrets use PULUMI_CONFIG_PASSPHRASE);
              without <value>, read it from stdin (a hidden prompt on a terminal), so a
              secret never shows in ps or the shell's history
  lock acquire -m "<message>" | lock release [--force] | lock status [--json]
              hold the stack's deploy lock by hand, free it, or see who holds it
  rollout <abort|pause|resume|promote [--full]|retry|status|watch> [-m "<why>"]
              act on the running canary, shift or switch gate (README: Rollout controls)
  init-hooks  write sample hooks to .bluegreen/hooks/ (no --stack needed)
  app exec (--component <c> [--color <c>] [--node <n>] | --service <s>) [--interactive] -- <argv>
              run a one-off command in the stack's containers (default: the live active color)
  app logs [--component <c> | --service <s>] [--color <c>] [--node <n>] [-n <lines>] [-f]
  logs [--component <c>] [--color <c>] [--proxy] [-n <lines>] [-f]   the app's log and HAProxy's access log, by time
              the app's log of each container; -f follows until Ctrl-C

options:
  --stack <name>        stack to operate on (required)
  --json                machine-readable output on stdout (progress goes to stderr)
  --config-file <file>  use this file instead of Pulumi.<stack>.yaml
  --cwd <dir>           project directory (default: the current directory)
  --show-secrets        print secret outputs in plaintext
  --refresh             (up, preview) refresh live state first, as \`pulumi up --refresh\`
  --lock-wait <seconds> (up) wait this long for a held deploy lock, saying who holds it
  -m, --message <text>  (lock acquire) why the stack is locked
  --force               (lock release) break a lock an up left behind
  --full                (rollout promote) skip every remaining window and gate; needs -m`;

const CONFIG_USAGE = "usage: config set <key> [<value>] [--secret] --stack <name>   (no <value>: read from stdin)";

/** Pure: a value piped in, without the one trailing newline `echo` and here-strings add. */
export function stdinValue(text: string): string {
    return text.replace(/\r?\n$/, "");
}

/** The value of `config set <key>` from stdin: typed at a hidden prompt on a terminal, else everything piped in. */
async function valueFromStdin(key: string, secret: boolean): Promise<string> {
    const value = process.stdin.isTTY ? await promptHidden(`${secret ? "secret " : ""}value of ${key}`) : stdinValue(fs.readFileSync(0, "utf8"));
    if (value === "") {
        throw new UsageError(
            `config set ${key}: no value: give it after the key, or on stdin (printf %s "$VALUE" | npm run local -- config set ${key}${secret ? " --secret" : ""} --stack <name>)\n${CONFIG_USAGE}`,
        );
    }
    return value;
}

/** One line from the terminal, not echoed. */
function promptHidden(label: string): Promise<string> {
    const stdin = process.stdin;
    stdin.setRawMode(true); // before the prompt: what is typed after it is never echoed
    process.stderr.write(`${label}: `);
    stdin.setEncoding("utf8");
    stdin.resume();
    let value = "";
    return new Promise((resolve, reject) => {
        const finish = (then: () => void) => {
            stdin.off("data", onData);
            stdin.setRawMode(false);
            stdin.pause();
            process.stderr.write("\n");
            then();
        };
        const onData = (chunk: string) => {
            for (const ch of chunk) {
                if (ch === "\r" || ch === "\n") return finish(() => resolve(value));
                if (ch === "\u0003" || ch === "\u0004") return finish(() => reject(new UsageError("config set: canceled; nothing was written")));
                value = ch === "\u007f" || ch === "\b" ? value.slice(0, -1) : value + ch;
            }
        };
        stdin.on("data", onData);
    });
}

interface Args {
    command: string;
    positional: string[];
    stack?: string;
    json: boolean;
    configFile?: string;
    cwd: string;
    showSecrets: boolean;
    secret: boolean;
    refresh: boolean;
    markdown: boolean;
    lockWait?: number;
    message?: string;
    force: boolean;
    full: boolean;
}

export function parseArgs(argv: readonly string[]): Args {
    const a: Args = {
        command: "",
        positional: [],
        json: false,
        cwd: process.cwd(),
        showSecrets: false,
        secret: false,
        refresh: false,
        markdown: false,
        force: false,
        full: false,
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new UsageError(`${arg} needs a value`);
            return v;
        };
        if (arg === "--stack" || arg === "-s") a.stack = value();
        else if (arg === "--json") a.json = true;
        else if (arg === "--config-file") a.configFile = value();
        else if (arg === "--cwd") a.cwd = path.resolve(value());
        else if (arg === "--show-secrets") a.showSecrets = true;
        else if (arg === "--secret") a.secret = true;
        else if (arg === "--refresh" || arg === "-r") a.refresh = true;
        else if (arg === "--markdown") a.markdown = true;
        else if (arg === "--force") a.force = true;
        else if (arg === "--full") a.full = true;
        else if (arg === "--message" || arg === "-m") a.message = value();
        else if (arg === "--lock-wait") {
            const v = value();
            if (!/^\d+$/.test(v)) throw new UsageError(`--lock-wait expects whole seconds, got ${v}`);
            a.lockWait = Number(v);
        } else if (
            arg === "--target" ||
            arg === "-t" ||
            arg.startsWith("--target=") ||
            arg === "--target-dependents" ||
            arg === "--exclude" ||
            arg === "--replace"
        ) {
            throw new UsageError(
                `${arg.split("=")[0]} is not supported by the offline runner: it always operates on the whole stack. Use the Pulumi CLI for a targeted update.`,
            );
        } else if (arg === "--yes" || arg === "-y" || arg === "--skip-preview")
            continue; // accepted for CLI parity
        else if (arg === "--help" || arg === "-h") a.command = "help";
        else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
        else if (!a.command) a.command = arg;
        else a.positional.push(arg);
    }
    return a;
}

/** Replaces secret values with "[secret]" unless asked to show them. */
export function presentOutputs(v: unknown, showSecrets: boolean): unknown {
    if (isSecretWrapper(v)) return showSecrets ? presentOutputs(v.value, true) : "[secret]";
    if (Array.isArray(v)) return v.map((x) => presentOutputs(x, showSecrets));
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, presentOutputs(x, showSecrets)]));
    return v;
}

function printOutputs(outputs: Record<string, unknown>, args: Args): void {
    const shown = presentOutputs(outputs, args.showSecrets) as Record<string, unknown>;
    if (args.json) {
        process.stdout.write(JSON.stringify(shown, null, 2) + "\n");
        return;
    }
    process.stdout.write("Outputs:\n");
    for (const [k, v] of Object.entries(shown)) process.stdout.write(`    ${k}: ${JSON.stringify(v)}\n`);
}

function summary(result: RunResult): string {
    const counts = new Map<string, number>();
    for (const s of result.steps) if (s.status === "done" || s.status === "planned") if (s.op !== "same") counts.set(s.op, (counts.get(s.op) ?? 0) + 1);
    const same = result.steps.filter((s) => s.op === "same").length;
    const word = (op: string) =>
        op === "create" ? "created" : op === "update" ? "updated" : op === "replace" ? "replaced" : op === "delete" ? "deleted" : op + "ed";
    const parts = [...counts.entries()].map(([op, n]) => `${n} ${word(op)}`);
    if (same) parts.push(`${same} unchanged`);
    return `Resources: ${parts.length ? parts.join(", ") : "no changes"}`;
}

/** The last lines of a failed run: what was skipped and why, then `error: <command> failed:` and each failure. */
export function failureReport(command: string, result: RunResult): string {
    const lines: string[] = [];
    const skipped = result.steps.filter((s) => s.status === "skipped");
    if (skipped.length > 0) {
        lines.push(`Skipped (${skipped.length}):`);
        for (const s of skipped) lines.push(`  - ${s.name}: ${s.op} (${s.reason})`);
    }
    if (result.canceled) {
        lines.push(
            `error: ${command} canceled (Ctrl-C): the steps in flight finished and no new step started; the state file is up to date, run ${command} again to continue`,
        );
    }
    if (result.errors.length > 0 || !result.canceled) {
        lines.push(`error: ${command} failed:`);
        for (const e of result.errors) lines.push(`  ${e.replace(/\n/g, "\n    ")}`);
    }
    return lines.join("\n") + "\n";
}

let interrupts = 0;
let onInterrupt: (() => void) | undefined;
/** What the first Ctrl-C does, as the first ^C's line says it. */
let interruptNote = "the steps in flight finish, then the runner stops";

/** First Ctrl-C: stop starting steps (as the CLI does). Second: exit at once. */
function installInterrupt(): void {
    process.on("SIGINT", () => {
        interrupts++;
        if (interrupts === 1 && onInterrupt) {
            process.stderr.write(`^C received: ${interruptNote}. Press ^C again to stop at once.\n`);
            onInterrupt();
            return;
        }
        process.stderr.write("^C received again: stopping at once. A step in flight may be half done; run the command again.\n");
        process.exitCode = 130;
        process.exit(130);
    });
}

function timing(label: string, since: number): void {
    if (process.env.BLUEGREEN_TIMING) process.stderr.write(`[timing] ${label}: ${Date.now() - since} ms\n`);
}

async function main(argv: readonly string[]): Promise<number> {
    const t0 = Date.now();
    if (argv[0] === "app" || argv[0] === "logs") {
        // Its own options, and the user's argv after --: parsed in ops/app.ts.
        const { appCommand } = require("../ops/app") as typeof import("../ops/app");
        const stop = new AbortController();
        onInterrupt = () => stop.abort();
        interruptNote =
            argv[0] === "logs"
                ? "logs stops after its current pull"
                : argv[1] === "logs"
                  ? "app logs stops after its current pull"
                  : "the command in flight gets it too, and nothing more starts";
        return appCommand(argv, stop.signal);
    }
    const args = parseArgs(argv);
    if (!args.command || args.command === "help") {
        process.stdout.write(USAGE + "\n");
        return args.command === "help" ? 0 : 2;
    }
    if (args.command === "init-hooks") {
        const { initHooks } = require("../ops/initHooks") as typeof import("../ops/initHooks");
        return initHooks(lazy.project().loadProject(args.cwd).dir);
    }
    if (!args.stack) throw new UsageError("--stack <name> is required (dev, staging, prod)");
    const commands = ["preview", "up", "refresh", "destroy"];
    const { loadProject, loadStackConfig, setStackConfig } = lazy.project();
    const project: Project = loadProject(args.cwd);
    process.chdir(project.dir); // providers resolve relative paths against the project, as under the CLI

    if (args.command === "config") {
        const [verb, key, given] = args.positional;
        if (verb !== "set" || !key) throw new UsageError(CONFIG_USAGE);
        // Left out, the value comes from stdin, as with `pulumi config set`: never on argv, where ps and shell history see it.
        const value = given ?? (await valueFromStdin(key, args.secret));
        setStackConfig(project, args.stack, key, value, args.secret, args.configFile);
        return 0;
    }

    if (args.command === "status") {
        // Operator verbs live in ops/, beside the engine: they read live state, never the runner's.
        const { statusCommand } = require("../ops/status") as typeof import("../ops/status");
        return statusCommand(project, args.stack, { json: args.json, configFile: args.configFile });
    }

    if (args.command === "lock") {
        const { lockCommand } = require("../ops/lock") as typeof import("../ops/lock");
        return lockCommand(project, args.stack, args.positional[0], { message: args.message, force: args.force, json: args.json, configFile: args.configFile });
    }
    if (args.command === "rollout") {
        const { rolloutCommand } = require("../ops/rollout") as typeof import("../ops/rollout");
        return rolloutCommand(project, args.stack, args.positional[0], {
            message: args.message,
            full: args.full,
            json: args.json,
            configFile: args.configFile,
        });
    }
    if (args.lockWait !== undefined && args.command !== "up") throw new UsageError("--lock-wait is for up");
    // The program's lock resource reads it, in the provider host this process starts; under
    // the Pulumi CLI, set BLUEGREEN_LOCK_WAIT yourself.
    if (args.lockWait !== undefined) process.env.BLUEGREEN_LOCK_WAIT = String(args.lockWait);

    const { loadState, statePath, takeStateLock } = lazy.state();
    const file = statePath(project.backendDir, project.name, args.stack);
    if (args.command === "outputs") {
        const { state } = loadState(file, project.name, args.stack);
        printOutputs(state.outputs, args);
        return 0;
    }
    if (!commands.includes(args.command)) throw new UsageError(`unknown command ${args.command}\n\n${USAGE}`);
    if (args.markdown && args.command !== "preview" && args.command !== "up") throw new UsageError("--markdown is for preview and up");

    const preview = args.command === "preview";
    const release = preview ? async () => undefined : await takeStateLock(file);
    const endCount = countIncus();
    // The provider host starts now, in parallel with loading the SDK and the program.
    const registry = new (lazy.providers().ProviderRegistry)(() =>
        lazy.host().ProviderHost.start({ project: project.name, stack: args.stack!, cwd: project.dir, log: (l) => process.stderr.write(`${l}\n`) }),
    );
    registry.warm();
    try {
        const { state, box } = loadState(file, project.name, args.stack);
        const config = loadStackConfig(project, args.stack, args.configFile);
        const out = args.json || args.markdown ? process.stderr : process.stdout;
        const reporter = { line: (t: string) => out.write(t + "\n") };
        reporter.line(
            `${preview ? "Previewing" : args.command === "up" ? "Updating" : args.command === "destroy" ? "Destroying" : "Refreshing"} stack ${args.stack}`,
        );
        const lm = require("./lazyModules") as typeof import("./lazyModules");
        lm.installLazyModules(require, lm.sdkDir(), true);
        const { Engine } = lazy.engine();
        timing("start-up (SDK, config, state)", t0);
        const options = { project, stack: args.stack, config, state, box, stateFile: file, preview, reporter, providers: registry };
        let current: InstanceType<typeof Engine> | undefined;
        onInterrupt = () => current?.stop("canceled by Ctrl-C", true);
        if (args.refresh && (args.command === "up" || args.command === "preview")) {
            // A preview refreshes in memory only: it must never write the state file.
            current = new Engine({ ...options, preview: false, dryRefresh: preview });
            const refreshed = await current.refreshAll();
            if (!refreshed.ok) {
                process.stderr.write(`\n${failureReport("refresh", refreshed)}`);
                return 1;
            }
        }
        const engine = (current = new Engine(options));
        const tRun = Date.now();
        const result = args.command === "destroy" ? await engine.destroyAll() : args.command === "refresh" ? await engine.refreshAll() : await engine.run();
        timing(`${args.command} (program and steps)`, tRun);
        const hostMs = await registry.hostStartMs();
        // Before the report: the host's last lines (its own echo of a failed call) must not
        // land after `error: up failed:`, which scripts and CI read as the last lines.
        await registry.close();
        if (hostMs !== undefined && process.env.BLUEGREEN_TIMING) process.stderr.write(`[timing] provider host start-up (in parallel): ${hostMs} ms\n`);
        if (preview && args.json) process.stdout.write(JSON.stringify({ steps: result.steps, errors: result.errors }, null, 2) + "\n");
        if (args.markdown) process.stdout.write(lazy.markdown().renderMarkdown(preview ? "preview" : "up", args.stack, result));
        if (result.configError) {
            process.stderr.write(`error: ${result.configError}\n`);
            return 2;
        }
        if (!result.ok) {
            process.stderr.write(`\n${failureReport(args.command, result)}`);
            return 1;
        }
        reporter.line(summary(result));
        if (args.command === "up" && !args.markdown) printOutputs(result.outputs, args);
        timing("total", t0);
        return 0;
    } finally {
        onInterrupt = undefined;
        await registry.close();
        endCount();
        await release();
    }
}

/** BLUEGREEN_COUNT_INCUS=1: each incus command (this process's and the provider host's) is counted in a file; the end prints the count. */
function countIncus(): () => void {
    if (!process.env.BLUEGREEN_COUNT_INCUS || process.env.BLUEGREEN_COUNT_INCUS_FILE) return () => undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-count-"));
    const file = (process.env.BLUEGREEN_COUNT_INCUS_FILE = path.join(dir, "incus"));
    fs.writeFileSync(file, "");
    return () => {
        const { incusCountLine } = require("../components/model/cluster/incusCount") as typeof import("../components/model/cluster/incusCount");
        process.stderr.write(`${incusCountLine(fs.readFileSync(file, "utf8"))}\n`);
        delete process.env.BLUEGREEN_COUNT_INCUS_FILE;
        fs.rmSync(dir, { recursive: true, force: true });
    };
}

/** Runs the CLI and exits with its code (scripts/local.js calls this on the compiled build). */
export function start(argv: readonly string[]): void {
    // exitCode is set first: the SDK's exit hook reports "leaked promises" unless it is non-zero.
    const exit = (code: number) => {
        process.exitCode = code;
        process.exit(code);
    };
    installInterrupt();
    // Under setMocks a resource whose provider cannot be serialized never registers, and
    // the event loop drains with nothing left to do. Say so. (A failed step does not get
    // here: later resources are answered as skipped and the program finishes.)
    process.on("beforeExit", () => {
        process.stderr.write(
            "error: the program stopped making progress: a resource never finished registering. " +
                "This is usually a dynamic provider that cannot be serialized; run `npx mocha test/serialization.test.ts`.\n",
        );
        exit(1);
    });
    main(argv).then(exit, (e) => {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        // A config the program refuses (status, lock) is the user's to fix, as a usage error.
        exit(e instanceof UsageError || (e as Error | undefined)?.name === "ConfigError" ? 2 : 1);
    });
}

if (require.main === module) start(process.argv.slice(2));
