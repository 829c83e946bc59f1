// Runs the offline runner exactly as users do (`npm run local` is `node scripts/local.js`):
// a separate node process that brings the compiled build up to date and runs it.

import { spawnSync } from "child_process";
import * as path from "path";

export const REPO = path.resolve(__dirname, "..", "..");
export const CLI = path.join(REPO, "scripts", "local.js");
/** node's arguments before the CLI's own. */
export const CLI_ARGV: readonly string[] = [CLI];

export interface CliResult {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/**
 * `node scripts/local.js <args>` with `env` added to a
 * copy of this process's environment (a value of undefined removes the variable), and `input` on stdin.
 */
export function runCli(args: readonly string[], env: Record<string, string | undefined> = {}, timeoutMs = 90_000, input?: string): CliResult {
    const merged: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete merged[k];
        else merged[k] = v;
    }
    const r = spawnSync(process.execPath, [...CLI_ARGV, ...args], {
        cwd: REPO,
        env: merged,
        encoding: "utf8",
        timeout: timeoutMs,
        ...(input === undefined ? {} : { input }),
    });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** For assertion messages: what the runner printed. */
export function shown(r: CliResult): string {
    return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
