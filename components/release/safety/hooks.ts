// postRollback, run by the providers that roll back by themselves (the canary, the guarded
// upgrade): their rollback fails the step, so no resource after it could run the hook.
// Same interpreter and variables as the local.Command hooks (model/safety/hooks.ts).

import { run } from "../../io/exec";
import { progress } from "../../io/progress";
import { HaproxyHost } from "../../io/haproxyHost";
import { HOOK_INTERPRETER, HookOperation, hookEnv } from "../../model/safety/hooks";
import { lockPath } from "../../model/safety/lock";
import { haproxyInstanceRef } from "../../model/traffic/topology";

const HOOK_TIMEOUT_MS = 10 * 60_000;

/** Runs the postRollback hook; its failure is added to the step's message, never hides the rollback's. */
export async function runPostRollback(
    i: { readonly postRollback?: string; readonly passEnv?: readonly string[]; readonly stack: string; readonly host: HaproxyHost; readonly stateDir: string },
    what: { readonly operation: HookOperation; readonly color: string; readonly release: string; readonly failedRelease: string },
): Promise<string> {
    if (!i.postRollback) return "";
    const instance = haproxyInstanceRef(i.host);
    const env = {
        ...hookEnv({
            hook: "postRollback",
            stack: i.stack,
            operation: what.operation,
            color: what.color,
            release: what.release,
            lockFile: lockPath(i.stateDir),
            ...(instance ? { lockInstance: instance } : {}),
            ...(i.passEnv ? { passEnv: i.passEnv } : {}),
        }),
        BLUEGREEN_FAILED_RELEASE: what.failedRelease,
    };
    progress(`hook postRollback: running for ${what.operation} of ${what.color} (back on ${what.release})`);
    const r = await run({ argv: [...HOOK_INTERPRETER, i.postRollback], env, timeoutMs: HOOK_TIMEOUT_MS });
    for (const line of `${r.stdout}${r.stderr}`.split("\n").filter(Boolean)) progress(`  | ${line}`);
    return r.code === 0 ? " The postRollback hook ran." : ` The postRollback hook also failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 500)}`;
}
