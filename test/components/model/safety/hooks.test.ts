import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { HOOK_INTERPRETER, HOOK_SCRIPT, hookEnv, hookTriggers } from "../../../../components/model/safety/hooks";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

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

        it("gives the hook a minimal environment: PATH, HOME, LANG, BLUEGREEN_* and the passEnv names, never the passphrase or a token", () => {
            const r = spawnSync("/bin/sh", ["-c", HOOK_SCRIPT, "env"], {
                encoding: "utf8",
                env: {
                    PATH: process.env.PATH,
                    HOME: "/root",
                    LANG: "C.UTF-8",
                    ...hookEnv({ ...ctx, lockFile: path.join(dir, "lock.json") }),
                    BLUEGREEN_PASS_ENV: "DEPLOY_CHANNEL NOT_SET",
                    DEPLOY_CHANNEL: "#ops",
                    PULUMI_CONFIG_PASSPHRASE: "the-passphrase",
                    BLUEGREEN_ARTIFACT_TOKEN: "the-artifact-token",
                    FORGE_TOKEN: "the-forge-token",
                    AWS_SECRET_ACCESS_KEY: "the-aws-key",
                },
            });
            assert.equal(r.status, 0, r.stderr);
            const names = r.stdout
                .split("\n")
                .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
                .map((l) => l.slice(0, l.indexOf("=")));
            for (const leaked of ["PULUMI_CONFIG_PASSPHRASE", "BLUEGREEN_ARTIFACT_TOKEN", "FORGE_TOKEN", "AWS_SECRET_ACCESS_KEY"]) {
                assert.ok(!names.includes(leaked), `${leaked} reached the hook`);
            }
            assert.doesNotMatch(r.stdout, /the-passphrase|the-artifact-token|the-forge-token|the-aws-key/);
            assert.match(r.stdout, /^DEPLOY_CHANNEL=#ops$/m, "a passEnv name reaches it");
            assert.match(r.stdout, /^HOME=\/root$/m);
            assert.match(r.stdout, /^LANG=C\.UTF-8$/m);
            assert.match(r.stdout, /^BLUEGREEN_STACK=dev$/m);
            assert.match(r.stdout, /^BLUEGREEN_PREVIOUS_RELEASE=|^BLUEGREEN_TIME=/m, "the variables the wrapper computes");
            assert.ok(names.includes("PATH"));
            assert.ok(!names.includes("NOT_SET"), "a listed name that is not set stays unset");
        });
    });
});
