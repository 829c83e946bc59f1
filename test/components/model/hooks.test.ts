import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { HOOK_INTERPRETER, HOOK_SCRIPT, hookEnv, hookTriggers } from "../../../components/model/hooks";
import { makeTmp, removeTmp } from "../../helpers/tmp";

describe("hooks (pure)", () => {
    const ctx = {
        hook: "postSwitch" as const,
        stack: "dev",
        operation: "switch" as const,
        color: "green",
        release: "bbb2222",
        active: "green",
        lockFile: "/var/lib/bluegreen/dev/lock.json",
    };

    it("carries only what its triggers also carry, so a no-op up runs nothing", () => {
        assert.deepEqual(hookEnv(ctx), {
            BLUEGREEN_HOOK: "postSwitch",
            BLUEGREEN_STACK: "dev",
            BLUEGREEN_OPERATION: "switch",
            BLUEGREEN_COLOR: "green",
            BLUEGREEN_RELEASE: "bbb2222",
            BLUEGREEN_ACTIVE: "green",
            BLUEGREEN_POST: "1",
            BLUEGREEN_LOCK_FILE: "/var/lib/bluegreen/dev/lock.json",
        });
        assert.deepEqual(hookTriggers(ctx), ["bbb2222", "green", "green"]);
        const deploy = { ...ctx, hook: "preDeploy" as const, operation: "deploy" as const, active: undefined };
        assert.deepEqual(hookTriggers(deploy), ["bbb2222", "green"], "a switch does not run the deploy hooks again");
        assert.equal("BLUEGREEN_POST" in hookEnv(deploy), false);
        assert.deepEqual(HOOK_INTERPRETER.slice(0, 2), ["/bin/sh", "-c"]);
    });

    describe("the interpreter script, run by sh", () => {
        let dir: string;
        beforeEach(() => (dir = makeTmp()));
        afterEach(() => removeTmp(dir));

        it("sets time, performer, runtime and the previous release, exits with the hook's status and audits it", () => {
            fs.writeFileSync(path.join(dir, "lock.json"), JSON.stringify({ kind: "up", time: new Date(Date.now() - 7000).toISOString() }, null, 2));
            fs.writeFileSync(path.join(dir, "history"), "2026-12-01T00:00:00Z blue aaa1111\n2026-12-02T00:00:00Z green bbb2222\n");
            const r = spawnSync("/bin/sh", ["-c", HOOK_SCRIPT, "env | grep ^BLUEGREEN_ | sort; echo to-stderr >&2; exit 4"], {
                encoding: "utf8",
                env: { PATH: process.env.PATH, ...hookEnv({ ...ctx, lockFile: path.join(dir, "lock.json") }), BLUEGREEN_PERFORMER: 'ana"x' },
            });
            assert.equal(r.status, 4);
            assert.equal(r.stderr, "to-stderr\n");
            const env = Object.fromEntries(
                r.stdout
                    .trim()
                    .split("\n")
                    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
            );
            assert.match(env.BLUEGREEN_TIME, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
            assert.ok(Number(env.BLUEGREEN_RUNTIME) >= 6 && Number(env.BLUEGREEN_RUNTIME) <= 60, env.BLUEGREEN_RUNTIME);
            assert.equal(env.BLUEGREEN_PREVIOUS_RELEASE, "aaa1111", "postSwitch: the release that served before the switch");
            assert.equal(env.BLUEGREEN_PERFORMER, 'ana"x');
            const line = JSON.parse(fs.readFileSync(path.join(dir, "audit.jsonl"), "utf8"));
            assert.equal(line.operation, "hook");
            assert.equal(line.performer, "anax", "quotes cannot break the audit line");
            assert.deepEqual(line.details, { hook: "postSwitch", operation: "switch", exitCode: 4 });
            assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        });
    });
});
