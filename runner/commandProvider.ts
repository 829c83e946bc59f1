// `command:local:Command` from @pulumi/command 1.2.1, executed the way that provider
// does (its plugin cannot be installed here): `create` on create, `update` (or
// `create`) on update, `delete` on delete, a change of `triggers` replaces.

import * as crypto from "crypto";
import type * as pulumi from "@pulumi/pulumi";
import { run } from "../components/io/exec";

interface CommandInputs {
    create?: string;
    update?: string;
    delete?: string;
    dir?: string;
    environment?: Record<string, string>;
    interpreter?: string[];
    stdin?: string;
    triggers?: unknown[];
    addPreviousOutputInEnv?: boolean;
}

interface CommandOutputs extends CommandInputs {
    stdout: string;
    stderr: string;
}

const UPDATE_KEYS = ["create", "update", "delete", "dir", "environment", "interpreter", "stdin", "addPreviousOutputInEnv"] as const;

async function execute(command: string, inputs: CommandInputs, extraEnv: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
    const interpreter = inputs.interpreter && inputs.interpreter.length > 0 ? inputs.interpreter : ["/bin/sh", "-c"];
    const r = await run({
        argv: [...interpreter, command],
        cwd: inputs.dir,
        env: { ...(inputs.environment ?? {}), ...extraEnv },
        input: inputs.stdin,
        timeoutMs: 30 * 60_000,
    });
    for (const line of r.stdout.split("\n").filter(Boolean)) process.stderr.write(`  | ${line}\n`);
    for (const line of r.stderr.split("\n").filter(Boolean)) process.stderr.write(`  | ${line}\n`);
    if (r.code !== 0) {
        throw new Error(`command exited ${r.code}${r.timedOut ? " (timed out)" : ""}: ${(r.stderr.trim() || r.stdout.trim()).slice(0, 2000)}`);
    }
    return { stdout: r.stdout.replace(/\n$/, ""), stderr: r.stderr.replace(/\n$/, "") };
}

function previousEnv(olds: Partial<CommandOutputs>): Record<string, string> {
    if (olds.addPreviousOutputInEnv === false) return {};
    return { PULUMI_COMMAND_STDOUT: olds.stdout ?? "", PULUMI_COMMAND_STDERR: olds.stderr ?? "" };
}

export const commandProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: CommandInputs, news: CommandInputs) {
        return { inputs: news };
    },

    async diff(_id: string, olds: CommandOutputs, news: CommandInputs) {
        const triggers = JSON.stringify(olds.triggers ?? null) !== JSON.stringify(news.triggers ?? null);
        const changed = UPDATE_KEYS.some((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null));
        return { changes: triggers || changed, replaces: triggers ? ["triggers"] : [] };
    },

    async create(inputs: CommandInputs) {
        const out = inputs.create ? await execute(inputs.create, inputs) : { stdout: "", stderr: "" };
        return { id: crypto.randomBytes(8).toString("hex"), outs: { ...inputs, ...out } };
    },

    async update(_id: string, olds: CommandOutputs, news: CommandInputs) {
        const command = news.update ?? news.create;
        const out = command ? await execute(command, news, previousEnv(olds)) : { stdout: olds.stdout, stderr: olds.stderr };
        return { outs: { ...news, ...out } };
    },

    async delete(_id: string, props: CommandOutputs) {
        if (props.delete) await execute(props.delete, props, previousEnv(props));
    },

    async read(id: string, props: CommandOutputs) {
        const { stdout: _o, stderr: _e, ...inputs } = props;
        return { id, props, inputs };
    },
};
