// Moving files is free; renaming a type token or a resource name is not. The state in
// test/fixtures/compat was written by `up` with the code before the components/ move
// (commit 2aa19c8: one file per concept, no layers). Previewing it with today's code
// must show no change: same URNs, and no provider diff sees a difference. The new resources
// are the deploy lock and its release at the end of an up, which every stack gains.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { HaproxyInputs, ensureHaproxy } from "../../components/release/traffic/haproxy";
import { ROOT, killHaproxyIn } from "../../harness/stack";
import { TestServer, reply, startServer } from "../helpers/httpServer";
import { quietProgress } from "../helpers/quiet";
import { spawn } from "child_process";

const FIXTURE = path.join(ROOT, "test/fixtures/compat");
const DIR = "/tmp/bluegreen-e2e/compat";
const STACK = "e2e-compat";

describe("e2e: state written before the components/ move", function () {
    this.timeout(120_000);
    quietProgress();
    const state = JSON.parse(fs.readFileSync(path.join(FIXTURE, `${STACK}.json`), "utf8"));

    // The containers' loopback ports, answering as healthy containers do: each container's
    // diff probes it once, and this test is about state, not Incus.
    const apps: TestServer[] = [];

    before(async () => {
        for (const port of [19510, 19511, 19520, 19521, 19530, 19531]) apps.push(await startServer(reply(200, {}, "ok"), port));
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
    after(async () => {
        for (const a of apps) await a.close();
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

    it("preview with today's code shows no changes", async () => {
        // Not spawnSync: this process's servers must answer the providers' probes meanwhile.
        const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
            const child = spawn(
                process.execPath,
                [
                    path.join(ROOT, "scripts/local.js"),
                    "preview",
                    "--json",
                    "--stack",
                    STACK,
                    "--config-file",
                    path.join(FIXTURE, `Pulumi.${STACK}.yaml`),
                    "--cwd",
                    ROOT,
                ],
                { cwd: ROOT, env: { ...process.env, PULUMI_BACKEND_URL: `file://${DIR}/state`, PULUMI_CONFIG_PASSPHRASE: "", BLUEGREEN_QUIET: "1" } },
            );
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
            child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
            const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, stdout, stderr });
            });
        });
        assert.equal(r.status, 0, r.stderr);
        const plan = JSON.parse(r.stdout);
        assert.deepEqual(
            plan.steps.filter((s: any) => s.op !== "same").map((s: any) => `${s.op} ${s.name}: ${(s.changes ?? []).join(", ")}`),
            [
                "create tcompat-lock: __provider, host, mode, release, stack, stateDir",
                "create tcompat-unlock: __provider, host, mode, release, stack, stateDir",
            ],
        );
        assert.equal(plan.steps.length, 10);
    });
});
