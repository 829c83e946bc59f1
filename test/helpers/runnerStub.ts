// Stubs the exec seam (components/exec.ts setRunner): records every command and
// answers from a function, so tests assert exact argv arrays without running anything.

import { Cmd, CmdResult, setRunner } from "../../components/io/exec";

export interface RunnerStub {
    /** Every command run, in order. */
    readonly calls: Cmd[];
    /** Just the argv of each call. */
    argvs(): string[][];
    restore(): void;
}

export type Responder = (cmd: Cmd, n: number) => CmdResult | Promise<CmdResult>;

export function stubRunner(respond: Responder): RunnerStub {
    const calls: Cmd[] = [];
    const restore = setRunner(async (cmd) => {
        calls.push(cmd);
        return respond(cmd, calls.length);
    });
    return { calls, argvs: () => calls.map((c) => [...c.argv]), restore };
}

export function ok(stdout = ""): CmdResult {
    return { code: 0, stdout, stderr: "" };
}

export function fail(code: number, stderr: string, stdout = ""): CmdResult {
    return { code, stdout, stderr };
}

/** The `incus query` answer for an instance. */
export function instanceJson(name: string, status: string, config: Record<string, string> = {}, devices: Record<string, Record<string, string>> = {}): string {
    return JSON.stringify({ name, status, config, devices, type: "container" });
}

export const INCUS_NOT_FOUND = fail(1, "Error: Instance not found\n");
