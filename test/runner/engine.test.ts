// runner/engine.ts through the real CLI, as a subprocess, on the fixture program in
// test/fixtures/engine-program. Its provider appends `<op> <name>` to <dir>/calls.log
// for every create, update, delete and read. The its below run in order against one
// stack, each starting from the state the previous one left.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { scheduleDeletes } from "../../runner/plan";
import { Crypter, SECRET_SIG, SIG_KEY, newCrypter } from "../../runner/secrets";
import { CliResult, REPO, runCli, shown } from "../helpers/cli";
import { makeTmp, removeTmp } from "../helpers/tmp";

const FIXTURE = path.join(REPO, "test", "fixtures", "engine-program");
const STACK = "t1";
const PASSPHRASE = "test";
const PASSWORD = "hunter2-engine-Secret";
const FINAL = "never wrote into the fixture directory";
const OUTPUTS = "outputs prints the last outputs, secrets as [secret] unless --show-secrets";
const SECRET_OUTPUT = "the secret stack output stays secret: [secret] in up's output, sealed in the state file";
const NO_LEAKS = "the secret never showed in plaintext in the state file, or in any output without --show-secrets";
const READ_ONLY = new Set([FINAL, OUTPUTS, SECRET_OUTPUT, NO_LEAKS]);

interface Spec {
    value?: string;
    version?: string;
    kind?: "dbr" | "cbd";
}

interface StackSettings {
    resources: Record<string, Spec>;
    failCreate?: string;
    failCreatePlain?: string;
    command?: boolean;
}

interface StateFile {
    resources: {
        name: string;
        type: string;
        custom: boolean;
        id?: string;
        urn: string;
        initErrors?: string[];
        dependencies: string[];
        outputs: Record<string, unknown>;
        pendingDelete?: boolean;
    }[];
    outputs: Record<string, unknown>;
}

describe("runner/engine (through runner/cli.ts)", function () {
    this.timeout(120_000);
    // The steps build on each other's state: after a failed step the rest are skipped, as they
    // would only fail confusingly. Tests that only look (READ_ONLY) do not stop the scenario.
    // (Not mocha's bail: that also reacts to other files' failures.)
    let failed: string | undefined;
    beforeEach(function () {
        if (failed && this.currentTest?.title !== FINAL) this.skip();
    });
    afterEach(function () {
        const t = this.currentTest;
        if (t?.state === "failed" && !READ_ONLY.has(t.title)) failed ??= t.title;
    });

    let tmp: string;
    let markers: string;
    let backend: string;
    let configFile: string;
    let crypter: Crypter;
    let fixtureBefore: string[];
    const stateFile = () => path.join(backend, ".bluegreen-local", "enginetest", `${STACK}.json`);

    before(() => {
        tmp = makeTmp("bluegreen-engine-");
        markers = path.join(tmp, "markers");
        backend = path.join(tmp, "backend");
        fs.mkdirSync(markers);
        configFile = path.join(tmp, "config", `Pulumi.${STACK}.yaml`);
        fs.mkdirSync(path.dirname(configFile));
        crypter = newCrypter(PASSPHRASE);
        fixtureBefore = fs.readdirSync(FIXTURE).sort();
    });

    after(() => {
        removeTmp(tmp);
    });

    function configure(s: StackSettings): void {
        const config: Record<string, unknown> = {
            "enginetest:dir": markers,
            "enginetest:password": { secure: crypter.encrypt(PASSWORD) },
            "enginetest:resources": s.resources,
        };
        if (s.failCreate) config["enginetest:failCreate"] = s.failCreate;
        if (s.failCreatePlain) config["enginetest:failCreatePlain"] = s.failCreatePlain;
        if (s.command === false) config["enginetest:command"] = "false";
        fs.writeFileSync(configFile, `# written by engine.test.ts\n${YAML.stringify({ encryptionsalt: crypter.saltState, config })}`);
    }

    /** Where the secret showed in plaintext; asserted empty by its own test, so the scenario goes on. */
    const leaks: string[] = [];

    /** Runs the CLI; notes whether the secret showed in its output or in the state file. */
    function cli(command: string, ...extra: string[]): CliResult {
        const r = runCli([command, "--stack", STACK, "--cwd", FIXTURE, "--config-file", configFile, ...extra], {
            PULUMI_BACKEND_URL: `file://${backend}`,
            PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
            PULUMI_CONFIG_PASSPHRASE_FILE: undefined,
            BLUEGREEN_QUIET: "1",
        });
        const what = [command, ...extra].join(" ");
        if (!extra.includes("--show-secrets")) {
            if (r.stdout.includes(PASSWORD)) leaks.push(`stdout of ${what}`);
            if (r.stderr.includes(PASSWORD)) leaks.push(`stderr of ${what}`);
        }
        if (fs.existsSync(stateFile()) && fs.readFileSync(stateFile(), "utf8").includes(PASSWORD)) leaks.push(`state file after ${what}`);
        return r;
    }

    function ok(r: CliResult): CliResult {
        assert.equal(r.code, 0, shown(r));
        return r;
    }

    /** Provider calls logged since the last call of this function. */
    let logged = 0;
    function newCalls(): string[] {
        const file = path.join(markers, "calls.log");
        const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
        const fresh = lines.slice(logged);
        logged = lines.length;
        return fresh;
    }

    function readState(): StateFile {
        return JSON.parse(fs.readFileSync(stateFile(), "utf8"));
    }

    function customNames(s: StateFile = readState()): string[] {
        return s.resources
            .filter((r) => r.custom)
            .map((r) => r.name)
            .sort();
    }

    function marker(id: string): string | undefined {
        const f = path.join(markers, `${id}.marker`);
        return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined;
    }

    let firstUpOutputs: Record<string, unknown> = {};
    let secondUpStdout = "";

    const initial: StackSettings = { resources: { a: { value: "1", version: "1", kind: "dbr" }, b: { value: "1", version: "1" } } };

    it("up from nothing creates every resource, dependencies first, and prints the outputs as JSON", () => {
        configure(initial);
        const r = ok(cli("up", "--json"));
        assert.deepEqual(newCalls(), ["create a", "create b"]); // b is declared first but depends on a
        const outputs = JSON.parse(r.stdout);
        assert.deepEqual({ ...outputs, secretOutput: undefined }, { names: ["a", "b"], values: { a: "1", b: "1" }, secretOutput: undefined });
        firstUpOutputs = outputs;
        assert.match(r.stderr, /Resources: 3 created/);

        assert.equal(marker("a.1"), "1");
        assert.equal(marker("b.1"), "1");
        // The provider got the secret in plaintext; the command ran its create command.
        assert.equal(fs.readFileSync(path.join(markers, "a.secret-seen"), "utf8"), PASSWORD);
        assert.equal(fs.readFileSync(path.join(markers, "cmd-created"), "utf8"), "hello");
        assert.ok(!fs.existsSync(path.join(markers, "cmd-deleted")));

        const state = readState();
        assert.deepEqual(customNames(state), ["a", "b", "cmd"]);
        const a = state.resources.find((x) => x.name === "a")!;
        const b = state.resources.find((x) => x.name === "b")!;
        assert.equal(a.id, "a.1");
        assert.deepEqual(b.dependencies, [a.urn]);
        assert.equal(state.resources.find((x) => x.name === "cmd")!.type, "command:local:Command");
        assert.ok(state.resources.some((x) => x.type === "pulumi:pulumi:Stack" && !x.custom));
        // The secret input is stored sealed.
        assert.deepEqual(a.outputs.secret, { [SIG_KEY]: SECRET_SIG, ciphertext: (a.outputs.secret as { ciphertext: string }).ciphertext });
        assert.match((a.outputs.secret as { ciphertext: string }).ciphertext, /^v1:/);
    });

    it("a second up makes no provider calls", () => {
        const before = fs.readFileSync(stateFile(), "utf8");
        const r = ok(cli("up"));
        assert.deepEqual(newCalls(), []);
        assert.match(r.stdout, /Resources: 3 unchanged/);
        assert.match(r.stdout, /^Outputs:\n {4}names: \["a","b"\]\n/m);
        secondUpStdout = r.stdout;
        const after = readState();
        assert.deepEqual(customNames(after), ["a", "b", "cmd"]);
        const ids = (s: StateFile) => s.resources.map((x) => `${x.name}=${x.id}`).sort();
        assert.deepEqual(ids(after), ids(JSON.parse(before)));
    });

    it("preview changes nothing but lists the planned steps as JSON", () => {
        const before = fs.readFileSync(stateFile(), "utf8");
        const markersBefore = fs.readdirSync(markers).sort();
        // A taker writes its pid there: the preview leaves the last up's.
        const lockBefore = fs.readFileSync(`${stateFile()}.lock`, "utf8");
        configure({ resources: { a: { value: "1", version: "2", kind: "dbr" }, b: { value: "2", version: "1" }, c: { value: "1" } }, command: false });
        const r = ok(cli("preview", "--json"));
        assert.deepEqual(newCalls(), []);
        assert.equal(fs.readFileSync(stateFile(), "utf8"), before);
        assert.deepEqual(fs.readdirSync(markers).sort(), markersBefore);
        assert.equal(fs.readFileSync(`${stateFile()}.lock`, "utf8"), lockBefore, "the preview took no lock");

        const out = JSON.parse(r.stdout) as { steps: { op: string; name: string; ok: boolean }[]; errors: string[] };
        assert.deepEqual(out.errors, []);
        const planned = out.steps
            .filter((s) => s.op !== "same")
            .map((s) => `${s.op} ${s.name}`)
            .sort();
        assert.deepEqual(planned, ["create c", "delete cmd", "replace a", "update b"]);
        assert.match(r.stderr, /Previewing stack t1/);
        assert.match(r.stderr, /~ value: "1" => "2"/);
    });

    it("changing a value updates only that resource", () => {
        configure({ resources: { a: { value: "1", version: "1", kind: "dbr" }, b: { value: "2", version: "1" } } });
        const r = ok(cli("up"));
        assert.deepEqual(newCalls(), ["update b"]);
        assert.equal(marker("b.1"), "2");
        assert.match(r.stdout, /Resources: 1 updated, 2 unchanged/);
    });

    it("a version change replaces: delete-before-replace deletes first, create-before-delete deletes at the end", () => {
        configure({ resources: { a: { value: "1", version: "2", kind: "dbr" }, b: { value: "2", version: "2" }, c: { value: "1" } } });
        ok(cli("up"));
        const calls = newCalls();
        assert.deepEqual([...calls].sort(), ["create a", "create b", "create c", "delete a", "delete b"]);
        assert.ok(calls.indexOf("delete a") < calls.indexOf("create a"), calls.join(", "));
        assert.ok(calls.indexOf("create a") < calls.indexOf("create b"), calls.join(", "));
        assert.equal(calls[calls.length - 1], "delete b", calls.join(", "));
        assert.deepEqual([marker("a.1"), marker("a.2"), marker("b.1"), marker("b.2"), marker("c.1")], [undefined, "1", undefined, "2", "1"]);
        const state = readState();
        assert.deepEqual(customNames(state), ["a", "b", "c", "cmd"]);
        assert.ok(state.resources.every((x) => !x.pendingDelete));
        assert.deepEqual(
            state.resources
                .filter((x) => x.custom)
                .map((x) => x.id)
                .filter((id) => id?.includes("."))
                .sort(),
            ["a.2", "b.2", "c.1"],
        );
    });

    const full = { a: { value: "1", version: "2", kind: "dbr" }, b: { value: "2", version: "2" }, c: { value: "1" } } as const;

    it("a partial failure keeps the resource in state with its id and initErrors; a plain failure keeps nothing", () => {
        configure({ resources: { ...full, d: { value: "1" }, e: { value: "1" } }, failCreate: "d", failCreatePlain: "e" });
        const r = cli("up");
        assert.equal(r.code, 1, shown(r));
        assert.deepEqual(newCalls().sort(), ["create d", "create e"]);
        assert.match(r.stderr, /error: up failed:/);
        assert.match(r.stderr, /d: create failed: partial failure creating d: created but unhealthy/);
        assert.match(r.stderr, /e: create failed: plain failure creating e/);

        const state = readState();
        const d = state.resources.find((x) => x.name === "d");
        assert.ok(d, "d is kept in state");
        assert.equal(d.id, "d.1");
        assert.deepEqual(d.initErrors, ["partial failure creating d: created but unhealthy"]);
        assert.equal(d.outputs.healthy, false);
        assert.ok(!state.resources.some((x) => x.name === "e"));
        assert.deepEqual(customNames(state), ["a", "b", "c", "cmd", "d"]);
        assert.equal(marker("d.1"), "1");
        assert.equal(marker("e.1"), undefined);
    });

    it("the next up retries: the partly failed resource is updated, the failed one created", () => {
        configure({ resources: { ...full, d: { value: "1" }, e: { value: "1" } } });
        const r = ok(cli("up"));
        assert.deepEqual(newCalls().sort(), ["create e", "update d"]);
        assert.match(r.stdout, /Resources: 1 created, 1 updated, 4 unchanged/);
        const state = readState();
        assert.equal(state.resources.find((x) => x.name === "d")!.initErrors, undefined);
        assert.deepEqual(customNames(state), ["a", "b", "c", "cmd", "d", "e"]);

        ok(cli("up"));
        assert.deepEqual(newCalls(), []);
    });

    it("resources removed from the program are deleted in reverse dependency order", () => {
        configure({ resources: { c: { value: "1" }, d: { value: "1" }, e: { value: "1" } } });
        const r = ok(cli("up"));
        assert.deepEqual(newCalls(), ["delete b", "delete a"]);
        assert.match(r.stdout, /Resources: 2 deleted, 4 unchanged/);
        assert.deepEqual(customNames(), ["c", "cmd", "d", "e"]);
        assert.equal(marker("a.2"), undefined);
        assert.equal(marker("b.2"), undefined);
    });

    it("refresh drops a resource whose marker was deleted by hand and records drift", () => {
        fs.rmSync(path.join(markers, "c.1.marker"));
        fs.writeFileSync(path.join(markers, "d.1.marker"), "edited by hand");
        const r = ok(cli("refresh"));
        assert.deepEqual(newCalls().sort(), ["read c", "read d", "read e"]);
        assert.match(r.stdout, /- c: gone \(deleted outside Pulumi\)/);
        assert.match(r.stdout, /~ d: drift\n\s+~ value: "1" => "edited by hand"/);
        const state = readState();
        assert.deepEqual(customNames(state), ["cmd", "d", "e"]);
        assert.equal(state.resources.find((x) => x.name === "d")!.outputs.value, "edited by hand");
    });

    it("another runner holding the lock (a live flock) is refused", async () => {
        const lock = `${stateFile()}.lock`;
        // Another holder of the same flock(2), as a running runner holds it.
        const holder = spawn("flock", ["--no-fork", lock, "sleep", "60"], { stdio: "ignore" });
        try {
            for (let i = 0; i < 100 && spawnSync("flock", ["-n", lock, "true"]).status === 0; i++) await new Promise((r) => setTimeout(r, 20));
            fs.writeFileSync(lock, String(holder.pid));
            const before = fs.readFileSync(stateFile(), "utf8");
            const r = cli("up");
            assert.equal(r.code, 2, shown(r));
            assert.match(r.stderr, new RegExp(`another update of this stack is running \\(pid ${holder.pid}\\)`));
            assert.deepEqual(newCalls(), []);
            assert.equal(fs.readFileSync(stateFile(), "utf8"), before);
            assert.equal(fs.readFileSync(lock, "utf8"), String(holder.pid));
        } finally {
            holder.kill("SIGKILL");
        }
    });

    it("a lock left by a dead process is taken over; up recreates what refresh found gone and reverts drift", () => {
        const dead = spawnSync("/bin/sh", ["-c", "exit 0"]).pid;
        assert.ok(dead > 0);
        const lock = `${stateFile()}.lock`;
        fs.writeFileSync(lock, String(dead));
        configure({ resources: { ...full, d: { value: "1" }, e: { value: "1" } } });
        ok(cli("up"));
        assert.equal(spawnSync("flock", ["-n", lock, "true"]).status, 0, "the lock is released");
        const calls = newCalls();
        assert.deepEqual([...calls].sort(), ["create a", "create b", "create c", "update d"]);
        assert.ok(calls.indexOf("create a") < calls.indexOf("create b"), calls.join(", "));
        assert.equal(marker("d.1"), "1");
        assert.equal(marker("c.1"), "1");
        assert.deepEqual(customNames(), ["a", "b", "c", "cmd", "d", "e"]);
    });

    it(OUTPUTS, () => {
        const hidden = ok(cli("outputs", "--json"));
        assert.deepEqual(JSON.parse(hidden.stdout), {
            names: ["a", "b", "c", "d", "e"],
            values: { a: "1", b: "2", c: "1", d: "1", e: "1" },
            secretOutput: "[secret]",
        });
        const plain = ok(cli("outputs", "--json", "--show-secrets"));
        assert.equal(JSON.parse(plain.stdout).secretOutput, PASSWORD);
        assert.deepEqual(newCalls(), []);
    });

    it(SECRET_OUTPUT, () => {
        assert.equal(firstUpOutputs.secretOutput, "[secret]");
        assert.match(secondUpStdout, /^ {4}secretOutput: "\[secret\]"$/m);
        const sealed = readState().outputs.secretOutput as Record<string, unknown>;
        assert.deepEqual(Object.keys(sealed).sort(), [SIG_KEY, "ciphertext"].sort());
        assert.equal(sealed[SIG_KEY], SECRET_SIG);
    });

    it(NO_LEAKS, () => {
        assert.deepEqual(leaks, []);
    });

    it("destroy deletes everything in reverse order, running the command's delete", () => {
        const r = ok(cli("destroy"));
        const calls = newCalls();
        assert.deepEqual([...calls].sort(), ["delete a", "delete b", "delete c", "delete d", "delete e"]);
        assert.ok(calls.indexOf("delete b") < calls.indexOf("delete a"), calls.join(", "));
        assert.match(r.stdout, /Resources: 6 deleted/);
        assert.equal(fs.readFileSync(path.join(markers, "cmd-deleted"), "utf8"), "bye");
        const state = readState();
        assert.deepEqual(state.resources, []);
        assert.deepEqual(state.outputs, {});
        assert.deepEqual(
            fs.readdirSync(markers).filter((f) => f.endsWith(".marker")),
            [],
        );
    });

    it(FINAL, () => {
        assert.deepEqual(fs.readdirSync(FIXTURE).sort(), fixtureBefore);
        assert.deepEqual(fixtureBefore, ["Pulumi.yaml", "index.ts"]);
    });
});

describe("runner/plan scheduleDeletes (the engine's ScheduleDeletes)", () => {
    const r = (name: string, dependencies: string[] = [], parent?: string) => ({ urn: name, name, parent, dependencies });
    const names = (chains: { name: string }[][]) => chains.map((c) => c.map((x) => x.name).sort());

    it("deletes a dependent first even when what it depends on was recreated after it", () => {
        // The switch depends on both containers; stream was recreated (by refresh + up) after it.
        assert.deepEqual(names(scheduleDeletes([r("web"), r("switch", ["web", "stream"]), r("stream")])), [["switch"], ["stream", "web"]]);
    });

    it("deletes children before their parent; resources that depend on nothing condemned go together, last", () => {
        // The engine peels off what depends on nothing condemned, then reverses: c waits for the children too.
        assert.deepEqual(names(scheduleDeletes([r("app"), r("a", [], "app"), r("b", [], "app"), r("c")])), [
            ["a", "b"],
            ["app", "c"],
        ]);
    });

    it("a removed color's containers are deleted at once", () => {
        const chains = scheduleDeletes([r("web-green"), r("api-green"), r("stream-green")]);
        assert.deepEqual(names(chains), [["api-green", "stream-green", "web-green"]]);
        // With the switch that depends on live ones (destroy): the switch first, then everything else at once.
        assert.deepEqual(names(scheduleDeletes([r("haproxy"), r("web-green"), r("switch", ["haproxy", "web-blue"]), r("web-blue")])), [
            ["switch"],
            ["haproxy", "web-blue", "web-green"],
        ]);
    });
});
