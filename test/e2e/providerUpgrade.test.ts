// Issue 24: a state whose `__provider` texts are the serialized closures every run wrote
// before (the SDK's serialization of the build's providers, 40-120 KB each, as commit
// cb2ec15's build wrote them) upgrades to the short texts with no diff but the provider
// text: no replace, no update, every other input and every output as it was. The stack is
// test/fixtures/compat's (a real state of 3 components x 2 colors, HAProxy and the switch),
// moved to this run's ports and directory; the containers' ports answer as healthy
// containers do, and HAProxy runs, so every provider's diff sees live state. No Incus.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { HaproxyInputs, ensureHaproxy } from "../../components/release/traffic/haproxy";
import { ROOT, killHaproxyIn } from "../../harness/stack";
import { TestServer, reply, startServer } from "../helpers/httpServer";
import { quietProgress } from "../helpers/quiet";

const FIXTURE = path.join(ROOT, "test/fixtures/compat");
const OLD_DIR = "/tmp/bluegreen-e2e/compat";
const DIR = `/tmp/bluegreen-e2e/providerUpgrade-${process.env.BLUEGREEN_E2E_NS ?? "default"}`;
const STACK = "e2e-compat";
const SHIFT = Number(process.env.BLUEGREEN_E2E_PORT_OFFSET ?? 0);
const OLD_PORTS = [19500, 19501, 19510, 19511, 19520, 19521, 19530, 19531];
const MAX_TEXT_BYTES = 2048;

/** The fixture moved to this run's directory and ports (the provider texts left alone). */
function moved<T>(v: T): T {
    if (typeof v === "number") return (OLD_PORTS.includes(v) ? v + SHIFT : v) as T;
    if (typeof v === "string")
        return v
            .split(OLD_DIR)
            .join(DIR)
            .replace(/\b(19[5]\d\d)\b/g, (p) => String(OLD_PORTS.includes(Number(p)) ? Number(p) + SHIFT : Number(p))) as T;
    if (Array.isArray(v)) return v.map(moved) as T;
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "__provider" ? x : moved(x)])) as T;
    return v;
}

/** Each registry provider serialized by the SDK from the build, as every run before issue 24 wrote it. */
function oldTexts(): Record<string, string> {
    const out = path.join(ROOT, "bin");
    const script = [
        `const pulumi = require(${JSON.stringify(require.resolve("@pulumi/pulumi"))});`,
        `const { PROVIDERS } = require(${JSON.stringify(path.join(out, "components", "providers", "index.js"))});`,
        "(async () => {",
        "    const texts = {};",
        "    for (const [name, provider] of Object.entries(PROVIDERS)) texts[name] = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;",
        "    process.stdout.write(JSON.stringify(texts));",
        "})();",
    ].join("\n");
    const file = path.join(DIR, "serialize.js");
    fs.writeFileSync(file, script); // a file, not -e: under -e, built-ins are globals the serializer would capture
    return JSON.parse(execFileSync(process.execPath, [file], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }));
}

function providerOf(name: string): string {
    if (name.endsWith("-haproxy")) return "haproxy";
    if (name.endsWith("-switch")) return "switch";
    if (name.endsWith("-lock")) return "lock";
    if (name.endsWith("-unlock")) return "unlock";
    return "colorContainer";
}

function run(verb: string, config: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    // Not spawnSync: this process's servers must answer the providers' probes meanwhile.
    return new Promise((resolve) => {
        const child = spawn(
            process.execPath,
            [
                path.join(ROOT, "scripts/local.js"),
                verb,
                ...(verb === "preview" ? ["--json"] : ["--yes"]),
                "--stack",
                STACK,
                "--config-file",
                config,
                "--cwd",
                ROOT,
            ],
            { cwd: ROOT, env: { ...process.env, PULUMI_BACKEND_URL: `file://${DIR}/state`, PULUMI_CONFIG_PASSPHRASE: "", BLUEGREEN_QUIET: "1" } },
        );
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
        child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
        });
    });
}

describe("e2e: a state of serialized provider closures upgrades to the short provider texts", function () {
    this.timeout(240_000);
    quietProgress();
    const stateFile = path.join(DIR, "state/.bluegreen-local/bluegreen", `${STACK}.json`);
    const config = path.join(DIR, `Pulumi.${STACK}.yaml`);
    const apps: TestServer[] = [];
    let oldState: any;

    before(async () => {
        killHaproxyIn(`${DIR}/haproxy`);
        fs.rmSync(DIR, { recursive: true, force: true });
        fs.mkdirSync(path.dirname(stateFile), { recursive: true });
        const texts = oldTexts();
        const state = moved(JSON.parse(fs.readFileSync(path.join(FIXTURE, `${STACK}.json`), "utf8")));
        for (const r of state.resources.filter((x: any) => x.custom)) {
            const text = texts[providerOf(r.name)];
            assert.ok(text && text.length > 20_000, `${r.name}: an old text is a whole closure`);
            r.inputs.__provider = text;
            r.outputs.__provider = text;
        }
        fs.writeFileSync(stateFile, JSON.stringify(state));
        fs.writeFileSync(config, moved(fs.readFileSync(path.join(FIXTURE, `Pulumi.${STACK}.yaml`), "utf8")));
        oldState = state;
        for (const p of [19510, 19511, 19520, 19521, 19530, 19531]) apps.push(await startServer(reply(200, {}, "ok"), p + SHIFT));
        // The HAProxy the old run started, so its provider's liveness check finds it running.
        const hx = state.resources.find((r: any) => r.name === "tcompat-haproxy");
        const { __provider: _p, running: _r, masterPid: _m, ...inputs } = hx.outputs;
        await ensureHaproxy(inputs as HaproxyInputs);
    });
    after(async () => {
        for (const a of apps) await a.close();
        killHaproxyIn(`${DIR}/haproxy`);
        fs.rmSync(DIR, { recursive: true, force: true });
    });

    it("preview: no replace and no update, only the deploy lock's two resources are new", async () => {
        const r = await run("preview", config);
        assert.equal(r.status, 0, r.stderr);
        const plan = JSON.parse(r.stdout);
        assert.deepEqual(
            plan.steps.filter((s: any) => s.op !== "same").map((s: any) => `${s.op} ${s.name}`),
            ["create tcompat-lock", "create tcompat-unlock"],
        );
    });

    it("up: every input and output as before but the provider text, which is short now; a second up changes nothing", async () => {
        const r = await run("up", config);
        assert.equal(r.status, 0, r.stderr + r.stdout);
        const upgraded = JSON.parse(fs.readFileSync(stateFile, "utf8"));
        // By name: loading upgrades the fixture's older URNs (runner/state.ts).
        const byName = new Map(upgraded.resources.map((x: any) => [x.name, x]));
        for (const old of oldState.resources.filter((x: any) => x.custom)) {
            const now: any = byName.get(old.name);
            assert.ok(now, `${old.name} is still in the state`);
            assert.equal(now.id, old.id, `${old.name} kept its id`);
            const { __provider: newText, ...inputs } = now.inputs;
            const { __provider: _o, ...oldInputs } = old.inputs;
            // Every old input as it was; keys added to the program after the fixture's commit (migrations) come in on this same step.
            assert.deepEqual(Object.fromEntries(Object.keys(oldInputs).map((k) => [k, inputs[k]])), oldInputs, `${old.name}: inputs but __provider`);
            assert.ok(Buffer.byteLength(newText) < MAX_TEXT_BYTES, `${old.name}: ${Buffer.byteLength(newText)} bytes`);
            assert.match(newText, new RegExp(`require\\("bluegreen-providers"\\)\\.provider\\("${providerOf(old.name)}"`));
            // A same step keeps the outputs: the old text stays there until the resource is next updated.
            assert.deepEqual(now.outputs, old.outputs, `${old.name}: outputs`);
        }
        for (const name of ["tcompat-lock", "tcompat-unlock"]) {
            const res = upgraded.resources.find((x: any) => x.name === name);
            assert.ok(Buffer.byteLength(res.inputs.__provider) < MAX_TEXT_BYTES && Buffer.byteLength(res.outputs.__provider) < MAX_TEXT_BYTES, name);
        }

        const again = await run("preview", config);
        assert.equal(again.status, 0, again.stderr);
        const plan = JSON.parse(again.stdout);
        assert.deepEqual(
            plan.steps.filter((s: any) => s.op !== "same").map((s: any) => `${s.op} ${s.name}`),
            [],
        );
    });
});
