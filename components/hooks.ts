// The operator's hooks as @pulumi/command local.Command resources, placed in the graph at
// their moment by app.ts (model/safety/hooks.ts says what they get). postRollback is not one: a
// rollback fails its step, and the engine runs nothing that depends on a failed step, so
// the canary and the stateful service run it themselves (release/safety/hooks.ts).

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HOOK_INTERPRETER, HookContext, hookEnv, hookTriggers } from "./model/safety/hooks";

/** One hook: runs on create, and again (a replace) when its release, color or the active color changes. */
export function hookCommand(name: string, script: string, ctx: HookContext, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: script,
            interpreter: [...HOOK_INTERPRETER],
            environment: hookEnv(ctx),
            triggers: hookTriggers(ctx),
            // PULUMI_COMMAND_STDOUT of the last run is noise to a hook.
            addPreviousOutputInEnv: false,
        },
        opts,
    );
}
