// `command:local:Command` as @pulumi/command 1.2.1 runs it (provider/pkg/provider/local/
// commandController.go and commandOutputs.go, on pulumi-go-provider 1.3.0's infer), since
// its plugin cannot be installed here:
// - create runs `create`; update runs `update`, else `create`; delete runs the old `delete`;
// - diff compares the old inputs with the new ones; `triggers` replaces (replaceOnChanges),
//   any other input change updates; no deleteBeforeReplace, so a replacement is created first;
// - the command is `interpreter` (default /bin/sh -c) + the command, in `dir` (default: the
//   working directory), with this process's environment plus `environment`, and
//   PULUMI_COMMAND_STDOUT/STDERR set from the previous run's outputs when those are not empty
//   (unless addPreviousOutputInEnv is false); `stdin` only when not empty;
// - outputs are the inputs plus `stdout` and `stderr`, one trailing newline trimmed; both are
//   logged unless `logging` says otherwise; a failure is `exit status N: running "<cmd>":` and
//   the output, and leaves nothing in state (create) or the old state (update);
// - the id is the resource name and 8 random hex digits; read returns the state as it is.

import * as crypto from "crypto";
import { run } from "../components/io/exec";
import { ProviderError, type CheckResult, type DiffResult, type Provider, type ReadResult } from "./host";

type Props = Record<string, unknown>;

interface CommandInputs {
    create?: string;
    update?: string;
    delete?: string;
    triggers?: unknown[];
    dir?: string;
    environment?: Record<string, string>;
    interpreter?: string[];
    stdin?: string;
    logging?: "stdout" | "stderr" | "stdoutAndStderr" | "none";
    addPreviousOutputInEnv?: boolean;
    assetPaths?: string[];
    archivePaths?: string[];
}

interface CommandOutputs extends CommandInputs {
    stdout: string;
    stderr: string;
}

/** Every input of local.Command 1.2.1, in its schema. */
export const INPUT_KEYS = [
    "create",
    "update",
    "delete",
    "triggers",
    "dir",
    "environment",
    "interpreter",
    "stdin",
    "logging",
    "addPreviousOutputInEnv",
    "assetPaths",
    "archivePaths",
] as const;
const LOGGING = ["stdout", "stderr", "stdoutAndStderr", "none"];
/** A bound the real provider does not have: a hung command must not hang the runner forever. */
const COMMAND_TIMEOUT_MS = 30 * 60_000;

/** Pure: the argv and environment of one run. */
export function commandSpec(
    command: string,
    inputs: CommandInputs,
    previous: { stdout?: string; stderr?: string },
): { argv: string[]; env: Record<string, string> } {
    const interpreter = inputs.interpreter && inputs.interpreter.length > 0 ? inputs.interpreter : ["/bin/sh", "-c"];
    const env: Record<string, string> = { ...(inputs.environment ?? {}) };
    if (inputs.addPreviousOutputInEnv !== false) {
        if (previous.stdout) env.PULUMI_COMMAND_STDOUT = previous.stdout;
        if (previous.stderr) env.PULUMI_COMMAND_STDERR = previous.stderr;
    }
    return { argv: [...interpreter, command], env };
}

/** Pure: the provider's diff of old and new inputs (infer's default diff with replaceOnChanges on triggers). */
export function commandDiff(oldInputs: Props, news: Props): DiffResult {
    const keys = [...new Set([...Object.keys(oldInputs), ...Object.keys(news)])].filter((k) => !k.startsWith("__"));
    const changed = keys.filter((k) => JSON.stringify(oldInputs[k] ?? null) !== JSON.stringify(news[k] ?? null)).sort();
    return {
        changes: changed.length > 0 ? "some" : "none",
        replaces: changed.filter((k) => k === "triggers"),
        deleteBeforeReplace: false,
        changedKeys: changed,
    };
}

function inputsOf(p: Props): CommandInputs {
    return Object.fromEntries(INPUT_KEYS.filter((k) => p[k] !== undefined && p[k] !== null).map((k) => [k, p[k]])) as CommandInputs;
}

async function execute(
    command: string,
    inputs: CommandInputs,
    previous: { stdout?: string; stderr?: string },
    log: (line: string) => void,
): Promise<{ stdout: string; stderr: string }> {
    const { argv, env } = commandSpec(command, inputs, previous);
    const r = await run({
        argv,
        cwd: inputs.dir,
        env,
        input: inputs.stdin ? inputs.stdin : undefined,
        timeoutMs: COMMAND_TIMEOUT_MS,
        // In its own process group, as the provider plugin is: Ctrl-C to the runner must not kill it mid-run.
        detached: true,
    });
    const logStdout = !inputs.logging || inputs.logging === "stdout" || inputs.logging === "stdoutAndStderr";
    const logStderr = !inputs.logging || inputs.logging === "stderr" || inputs.logging === "stdoutAndStderr";
    if (logStdout) for (const line of r.stdout.split("\n").filter(Boolean)) log(line);
    if (logStderr) for (const line of r.stderr.split("\n").filter(Boolean)) log(line);
    if (r.code !== 0) {
        const status = r.timedOut
            ? `signal: killed (after ${COMMAND_TIMEOUT_MS / 60_000} minutes)`
            : r.code === 127 && !r.stdout && /ENOENT/.test(r.stderr)
              ? r.stderr.trim()
              : `exit status ${r.code}`;
        throw new ProviderError(`${status}: running ${JSON.stringify(command)}:\n${r.stdout}${r.stderr}`);
    }
    return { stdout: r.stdout.replace(/\n$/, ""), stderr: r.stderr.replace(/\n$/, "") };
}

/** The command provider; `log` receives each logged output line. */
export function commandProvider(log: (line: string) => void = (l) => process.stderr.write(`  | ${l}\n`)): Provider {
    return {
        async check(_urn: string, _olds: Props, news: Props): Promise<CheckResult> {
            const failures: { property: string; reason: string }[] = [];
            if (news.logging !== undefined && !LOGGING.includes(String(news.logging)))
                failures.push({ property: "logging", reason: `expected one of ${LOGGING.join(", ")}` });
            for (const k of ["assetPaths", "archivePaths"]) {
                if (news[k] !== undefined)
                    failures.push({ property: k, reason: "the offline runner does not collect assets or archives; remove it or use the Pulumi CLI" });
            }
            for (const k of ["create", "update", "delete", "dir", "stdin"]) {
                if (news[k] !== undefined && typeof news[k] !== "string") failures.push({ property: k, reason: "expected a string" });
            }
            return { inputs: news, failures };
        },

        async diff(_urn: string, _id: string, oldInputs: Props, _oldOutputs: Props, news: Props): Promise<DiffResult> {
            return commandDiff(oldInputs, news);
        },

        async create(urn: string, properties: Props): Promise<{ id: string; properties: Props }> {
            const inputs = inputsOf(properties);
            const name = urn.split("::").pop() ?? "";
            const id = name + crypto.randomBytes(4).toString("hex");
            const out = inputs.create ? await execute(inputs.create, inputs, {}, log) : { stdout: "", stderr: "" };
            return { id, properties: { ...inputs, ...out } };
        },

        async update(_urn: string, _id: string, oldOutputs: Props, news: Props): Promise<{ properties: Props }> {
            const inputs = inputsOf(news);
            const olds = oldOutputs as Partial<CommandOutputs>;
            const previous = { stdout: olds.stdout ?? "", stderr: olds.stderr ?? "" };
            const command = inputs.update ?? inputs.create;
            const out = command ? await execute(command, inputs, previous, log) : previous;
            return { properties: { ...inputs, ...out } };
        },

        async delete(_urn: string, _id: string, oldOutputs: Props): Promise<void> {
            const props = oldOutputs as Partial<CommandOutputs>;
            const inputs = inputsOf(oldOutputs);
            if (inputs.delete) await execute(inputs.delete, inputs, { stdout: props.stdout, stderr: props.stderr }, log);
        },

        async read(_urn: string, id: string, state: Props, inputs: Props | undefined): Promise<ReadResult> {
            return { id, properties: state, inputs };
        },
    };
}
