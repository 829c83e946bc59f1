// `npm run local -- init-hooks`: sample hooks, as `kamal init` writes .kamal/hooks/*.sample.
// Never overwrites a file; prints the bluegreen:hooks block that would run them.

import * as fs from "fs";
import * as path from "path";
import { HOOK_NAMES, HookName } from "../components/model/safety/hooks";

const DIR = ".bluegreen/hooks";

const WHEN: Record<HookName, string> = {
    preDeploy: "before a color's containers are created or replaced; a non-zero exit aborts the up before anything is touched",
    postDeploy: "after a color's containers are healthy",
    preSwitch: "before traffic moves to the active color; a non-zero exit keeps traffic where it is",
    postSwitch: "after traffic moved",
    postRollback: "after the automatic rollback of a canary or a guarded upgrade",
};

/** Pure: a sample hook's text. */
export function sampleHook(hook: HookName): string {
    return `#!/bin/sh
# bluegreen ${hook} hook: runs ${WHEN[hook]}.
# Enable it in Pulumi.<stack>.yaml:  bluegreen:hooks: { ${hook}: "${DIR}/${hook}" }
# (rename this file without .sample). It runs from the project directory with:
#   BLUEGREEN_STACK BLUEGREEN_OPERATION (deploy, switch, rollback, canary, upgrade)
#   BLUEGREEN_COLOR BLUEGREEN_RELEASE BLUEGREEN_PREVIOUS_RELEASE BLUEGREEN_ACTIVE
#   BLUEGREEN_PERFORMER BLUEGREEN_TIME (UTC)${hook.startsWith("post") ? " BLUEGREEN_RUNTIME (seconds since the up took the lock)" : ""}${hook === "postRollback" ? "\n#   BLUEGREEN_FAILED_RELEASE (the release that was rolled back)" : ""}
set -eu
echo "${hook}: $BLUEGREEN_OPERATION of $BLUEGREEN_COLOR to $BLUEGREEN_RELEASE by $BLUEGREEN_PERFORMER at $BLUEGREEN_TIME"
`;
}

export function initHooks(projectDir: string): number {
    const dir = path.join(projectDir, DIR);
    fs.mkdirSync(dir, { recursive: true });
    for (const hook of HOOK_NAMES) {
        const file = path.join(dir, `${hook}.sample`);
        if (fs.existsSync(file)) {
            process.stdout.write(`kept ${path.relative(projectDir, file)} (exists)\n`);
            continue;
        }
        fs.writeFileSync(file, sampleHook(hook), { mode: 0o755 });
        process.stdout.write(`wrote ${path.relative(projectDir, file)}\n`);
    }
    process.stdout.write(`\nTo enable them, rename without .sample and add to Pulumi.<stack>.yaml:\n  bluegreen:hooks:\n`);
    for (const hook of HOOK_NAMES) process.stdout.write(`    ${hook}: ${DIR}/${hook}\n`);
    return 0;
}
