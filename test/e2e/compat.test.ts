// Moving files is free; renaming a type token or a resource name is not. The state in
// test/fixtures/compat was written by `up` with the code before the components/ move
// (commit 2aa19c8: one file per concept, no layers). Previewing it with today's code
// must show no change: same URNs, and no provider diff sees a difference.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { HaproxyInputs, ensureHaproxy } from "../../components/release/haproxy";
import { ROOT, killHaproxyIn } from "../../harness/stack";
import { quietProgress } from "../helpers/quiet";
import { spawnSync } from "child_process";

const FIXTURE = path.join(ROOT, "test/fixtures/compat");
const DIR = "/tmp/bluegreen-e2e/compat";
const STACK = "e2e-compat";

describe("e2e: state written before the components/ move", function () {
    this.timeout(120_000);
    quietProgress();
    const state = JSON.parse(fs.readFileSync(path.join(FIXTURE, `${STACK}.json`), "utf8"));

    before(async () => {
        killHaproxyIn(`${DIR}/haproxy`);
        fs.rmSync(DIR, { recursive: true, force: true });
        const stateDir = path.join(DIR, "state/.bluegreen-local/bluegreen");
        fs.mkdirSync(stateDir, { recursive: true });
        fs.copyFileSync(path.join(FIXTURE, `${STACK}.json`), path.join(stateDir, `${STACK}.json`));
        // The HAProxy the old code started, so its provider's liveness check finds it running.
        const hx = state.resources.find((r: any) => r.name === "tcompat-haproxy");
        const { __provider: _p, running: _r, masterPid: _m, ...inputs } = hx.outputs;
        await ensureHaproxy(inputs as HaproxyInputs);
    });
    after(() => {
        killHaproxyIn(`${DIR}/haproxy`);
        fs.rmSync(DIR, { recursive: true, force: true });
    });

    it("covers the whole stack: HAProxy, the switch and both colors' containers", () => {
        const names = state.resources
            .filter((r: any) => r.custom)
            .map((r: any) => r.name)
            .sort();
        assert.deepEqual(names, ["backend-blue", "backend-green", "stream-blue", "stream-green", "tcompat-haproxy", "tcompat-switch", "web-blue", "web-green"]);
    });

    it("preview with today's code shows no changes", () => {
        const r = spawnSync(
            process.execPath,
            [
                "-r",
                "ts-node/register/transpile-only",
                path.join(ROOT, "runner/cli.ts"),
                "preview",
                "--json",
                "--stack",
                STACK,
                "--config-file",
                path.join(FIXTURE, `Pulumi.${STACK}.yaml`),
                "--cwd",
                ROOT,
            ],
            {
                cwd: ROOT,
                encoding: "utf8",
                env: { ...process.env, PULUMI_BACKEND_URL: `file://${DIR}/state`, PULUMI_CONFIG_PASSPHRASE: "", BLUEGREEN_QUIET: "1" },
                timeout: 60_000,
            },
        );
        assert.equal(r.status, 0, r.stderr);
        const plan = JSON.parse(r.stdout);
        assert.deepEqual(
            plan.steps.filter((s: any) => s.op !== "same").map((s: any) => `${s.op} ${s.name}: ${(s.changes ?? []).join(", ")}`),
            [],
        );
        assert.equal(plan.steps.length, 8);
    });
});
