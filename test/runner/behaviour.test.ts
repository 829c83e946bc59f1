// The engine's rules, each from pkg/resource/deploy (v3.248.0), shown on the fixture program
// test/fixtures/behaviour-program through the real CLI and Pulumi's dynamic-provider host.
// Each test has its own stack (state, markers) in a temp dir.

import assert from "node:assert/strict";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { CliResult, CLI_ARGV, REPO, runCli, shown } from "../helpers/cli";
import { makeTmp, removeTmp } from "../helpers/tmp";

const FIXTURE = path.join(REPO, "test", "fixtures", "behaviour-program");
const DYN = "pulumi-nodejs:dynamic:Resource";

type Spec = Record<string, unknown> & { name: string };

interface State {
    version: number;
    resources: {
        urn: string;
        name: string;
        type: string;
        id?: string;
        parent?: string;
        dependencies: string[];
        outputs: Record<string, any>;
        inputs: Record<string, any>;
        pendingDelete?: boolean;
        initErrors?: string[];
    }[];
    outputs: Record<string, unknown>;
}

class Stack {
    readonly dir = makeTmp("bluegreen-behaviour-");
    readonly markers = path.join(this.dir, "m");
    readonly configFile = path.join(this.dir, "Pulumi.t.yaml");
    readonly stateFile = path.join(this.dir, "state", ".bluegreen-local", "behaviour", "t.json");
    private logged = 0;
    constructor() {
        fs.mkdirSync(this.markers);
    }

    write(resources: Spec[]): void {
        fs.writeFileSync(this.configFile, YAML.stringify({ config: { "behaviour:dir": this.markers, "behaviour:resources": resources } }));
    }

    env() {
        return { PULUMI_BACKEND_URL: `file://${path.join(this.dir, "state")}`, PULUMI_CONFIG_PASSPHRASE: "", BLUEGREEN_QUIET: "1" };
    }

    args(command: string, extra: string[]): string[] {
        return [command, "--stack", "t", "--cwd", FIXTURE, "--config-file", this.configFile, ...extra];
    }

    cli(command: string, resources?: Spec[], ...extra: string[]): CliResult {
        if (resources) this.write(resources);
        return runCli(this.args(command, extra), this.env());
    }

    ok(command: string, resources?: Spec[], ...extra: string[]): CliResult {
        const r = this.cli(command, resources, ...extra);
        assert.equal(r.code, 0, shown(r));
        return r;
    }

    /** Provider calls since the last call of this method, check calls left out. */
    calls(): string[] {
        const file = path.join(this.markers, "calls.log");
        const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
        const fresh = lines.slice(this.logged);
        this.logged = lines.length;
        return fresh.filter((l) => !l.startsWith("check "));
    }

    state(): State {
        return JSON.parse(fs.readFileSync(this.stateFile, "utf8"));
    }

    names(): string[] {
        return this.state()
            .resources.filter((r) => r.type === DYN)
            .map((r) => r.name)
            .sort();
    }

    remove(): void {
        removeTmp(this.dir);
    }
}

/** The last lines of stderr, from `error: up failed:` on. */
function tail(r: CliResult): string {
    const i = r.stderr.lastIndexOf("error: ");
    return i >= 0 ? r.stderr.slice(i) : "";
}

describe("runner: engine behaviour (fixture program, real dynamic-provider host)", function () {
    this.timeout(180_000);
    let s: Stack;
    beforeEach(() => {
        s = new Stack();
    });
    afterEach(() => s.remove());

    describe("a failed step", () => {
        it("create: its dependent is skipped and reported, no later step starts, and the run ends with `error: up failed:`", () => {
            const r = s.cli("up", [
                { name: "a", fail: { create: "plain" } },
                { name: "b", dependsOn: ["a"] },
                { name: "c", dependsOn: ["b"] },
            ]);
            assert.equal(r.code, 1, shown(r));
            assert.deepEqual(s.calls(), ["create a"]);
            assert.match(
                r.stderr,
                /Skipped \(2\):\n {2}- b: create \(depends on a, which did not complete\)\n {2}- c: create \(depends on b, which did not complete\)\n/,
            );
            assert.equal(tail(r), "error: up failed:\n  a: create failed: create of a failed\n");
            assert.doesNotMatch(r.stderr, /stopped making progress/);
            assert.deepEqual(s.names(), []);
        });

        it("update: the dependent is skipped; the failed resource keeps its old state", () => {
            s.ok("up", [
                { name: "a", value: "1" },
                { name: "b", value: "1", dependsOn: ["a"] },
            ]);
            s.calls();
            const before = s.state().resources.find((x) => x.name === "a")!;
            const r = s.cli("up", [
                { name: "a", value: "2", fail: { update: "plain" } },
                { name: "b", value: "2", dependsOn: ["a"] },
            ]);
            assert.equal(r.code, 1, shown(r));
            assert.deepEqual(s.calls(), ["update a"]);
            assert.match(r.stderr, /- b: update \(depends on a, which did not complete\)/);
            assert.equal(tail(r), "error: up failed:\n  a: update failed: update of a failed\n");
            const after = s.state().resources.find((x) => x.name === "a")!;
            assert.deepEqual(after.outputs, before.outputs);
        });

        it("a partial failure keeps the resource under its id with exactly the returned properties, and the next up retries", () => {
            const r = s.cli("up", [
                { name: "a", fail: { create: "partial" } },
                { name: "b", dependsOn: ["a"] },
            ]);
            assert.equal(r.code, 1, shown(r));
            const a = s.state().resources.find((x) => x.name === "a")!;
            assert.equal(a.id, "a.partial");
            assert.deepEqual(a.initErrors, ["create of a did not become healthy"]);
            assert.equal(a.outputs.healthy, false);
            assert.equal(typeof a.outputs.__provider, "string", "the provider put __provider in its properties");
            assert.equal(a.outputs.created, undefined, "nothing the host did not return");
            s.calls();
            s.ok("up", [{ name: "a" }, { name: "b", dependsOn: ["a"] }]);
            assert.deepEqual(s.calls(), ["update a", "create b"]);
        });

        it("replace (delete first) whose create fails: the dependent is skipped and the report says the old one is gone", () => {
            s.ok("up", [
                { name: "a", value: "1" },
                { name: "b", dependsOn: ["a"] },
            ]);
            s.calls();
            const r = s.cli("up", [
                { name: "a", value: "2", diff: { replaces: ["value"], dbr: true }, fail: { create: "plain" } },
                { name: "b", dependsOn: ["a"] },
            ]);
            assert.equal(r.code, 1, shown(r));
            assert.deepEqual(s.calls(), ["begin delete a", "delete a", "create a"]);
            assert.match(r.stderr, /- b: update \(depends on a, which did not complete\)/);
            assert.match(
                tail(r),
                /^error: up failed:\n {2}a: replace failed: create of a failed\n {2}a: the old resource was deleted before the failed create; it is absent now \(run up again to create it\)\n$/,
            );
            assert.deepEqual(s.names(), ["b"]);
        });

        it("replace (create first) whose create fails keeps the old resource", () => {
            s.ok("up", [{ name: "a", value: "1" }]);
            const id = s.state().resources.find((x) => x.name === "a")!.id;
            s.calls();
            const r = s.cli("up", [{ name: "a", value: "2", diff: { replaces: ["value"] }, fail: { create: "plain" } }]);
            assert.equal(r.code, 1, shown(r));
            assert.deepEqual(s.calls(), ["create a"]);
            assert.deepEqual(
                s
                    .state()
                    .resources.filter((x) => x.name === "a")
                    .map((x) => [x.id, !!x.pendingDelete]),
                [[id, false]],
            );
        });

        it("after a failure the create half of a delete-before-replace in flight is not started, and the report says so", async () => {
            // The gate is in x's first spec: a delete runs with the old state.
            s.ok("up", [
                { name: "x", value: "1", gate: "delete" },
                { name: "y", value: "1" },
            ]);
            s.calls();
            s.write([
                { name: "x", value: "2", diff: { replaces: ["value"], dbr: true }, gate: "delete" },
                { name: "y", value: "2", fail: { update: "plain" }, gate: "update" },
            ]);
            const child = spawn(process.execPath, [...CLI_ARGV, ...s.args("up", [])], {
                env: { ...process.env, ...s.env() },
                stdio: ["ignore", "pipe", "pipe"],
            });
            let stderr = "";
            child.stderr.on("data", (b) => (stderr += b));
            child.stdout.on("data", (b) => (stderr += b));
            const done = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
            const log = path.join(s.markers, "calls.log");
            // Both steps in flight; then y fails while x's delete still runs.
            for (
                let i = 0;
                i < 600 && !/update y\n[\s\S]*delete x\n|delete x\n[\s\S]*update y\n/.test(fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "");
                i++
            )
                await new Promise((r) => setTimeout(r, 50));
            fs.writeFileSync(path.join(s.markers, "y.gate"), "");
            for (let i = 0; i < 600 && !stderr.includes("y: update failed"); i++) await new Promise((r) => setTimeout(r, 50));
            fs.writeFileSync(path.join(s.markers, "x.gate"), "");
            const code = await done;
            assert.equal(code, 1, stderr);
            const calls = s.calls();
            assert.ok(calls.includes("delete x passed the gate"), calls.join(", "));
            assert.ok(!calls.includes("create x"), calls.join(", "));
            assert.match(
                stderr,
                /x was deleted for its replacement, and the create was not started because the run stopped \(y failed\)\. It is absent now; run up again to create it\./,
            );
            assert.deepEqual(s.names(), ["y"]);
        });
    });

    it("a check failure aborts the whole run, in preview too, with one error per property", () => {
        for (const command of ["preview", "up"]) {
            const r = s.cli(command, [
                { name: "a", fail: { check: "plain" } },
                { name: "b", dependsOn: ["a"] },
            ]);
            assert.equal(r.code, 1, shown(r));
            assert.match(r.stderr, /- b: create \(depends on a, which did not complete\)/);
            assert.equal(
                tail(r),
                `error: ${command} failed:\n` +
                    `  a: create failed: ${DYN} resource 'a': property value value {"v"} has a problem: value is refused\n` +
                    `  a: create failed: ${DYN} resource 'a': property name value {"a"} has a problem: name is refused too\n`,
            );
        }
        assert.deepEqual(s.calls(), []);
        assert.ok(!fs.existsSync(s.stateFile) || s.names().length === 0);
    });

    it("deletes of independent resources run at once (each waits until the others began)", () => {
        const together = (name: string, others: string[]) => ({ name, together: others });
        s.ok("up", [together("p", ["q", "r"]), together("q", ["p", "r"]), together("r", ["p", "q"]), { name: "keep" }]);
        s.calls();
        const r = s.ok("up", [{ name: "keep" }]);
        assert.deepEqual(
            s
                .calls()
                .filter((c) => c.startsWith("delete"))
                .sort(),
            ["delete p", "delete q", "delete r"],
        );
        assert.match(r.stdout, /Resources: 3 deleted, 1 unchanged/);
        assert.deepEqual(s.names(), ["keep"]);
    });

    describe("replacement order", () => {
        it("the deleteBeforeReplace option overrides the provider's answer either way", () => {
            s.ok("up", [
                { name: "a", value: "1" },
                { name: "b", value: "1" },
            ]);
            s.calls();
            s.ok("up", [
                { name: "a", value: "2", diff: { replaces: ["value"], dbr: true }, opts: { deleteBeforeReplace: false } },
                { name: "b", value: "2", diff: { replaces: ["value"], dbr: false }, opts: { deleteBeforeReplace: true } },
            ]);
            const calls = s.calls().filter((c) => !c.startsWith("begin"));
            // a: created first, old one deleted at the end; b: deleted first.
            assert.ok(calls.indexOf("delete b") < calls.indexOf("create b"), calls.join(", "));
            assert.ok(calls.indexOf("create a") < calls.indexOf("delete a"), calls.join(", "));
        });

        it("changes: false with replaces is no change", () => {
            s.ok("up", [{ name: "a", value: "1" }]);
            s.calls();
            const r = s.ok("up", [{ name: "a", value: "2", diff: { changes: false, replaces: ["value"] } }]);
            assert.deepEqual(s.calls(), []);
            assert.match(r.stdout, /Resources: 1 unchanged/);
        });
    });

    it("outputs after a failed run: the program finished, a later delete failed, and the new outputs overwrite the old", () => {
        s.ok("up", [{ name: "a" }, { name: "z", fail: { delete: "plain" } }]);
        assert.deepEqual(s.state().outputs.names, ["a", "z"]);
        const r = s.cli("up", [{ name: "a" }]);
        assert.equal(r.code, 1, shown(r));
        assert.match(tail(r), /z: delete failed: delete of z failed/);
        assert.deepEqual(s.state().outputs.names, ["a"]);
        assert.ok(s.state().outputs.value, "a key the new outputs also have stays");
    });

    describe("URNs", () => {
        const nested = [
            { name: "g1", component: true },
            { name: "g2", component: true, parent: "g1" },
            { name: "t", parent: "g2" },
        ];

        it("carry the full parent type chain, as the engine builds them", () => {
            s.ok("up", nested);
            const t = s.state().resources.find((x) => x.name === "t")!;
            assert.equal(t.urn, `urn:pulumi:t::behaviour::behaviour:index:Group$behaviour:index:Group$${DYN}::t`);
            assert.equal(s.state().resources.find((x) => x.name === "g1")!.urn, "urn:pulumi:t::behaviour::behaviour:index:Group::g1");
        });

        it("a version 1 state file (MockMonitor's URNs) upgrades with no resource changes", () => {
            s.ok("up", nested);
            // Rewrite it as version 1 wrote it: only the immediate parent's type.
            const st = s.state();
            const byUrn = new Map(st.resources.map((r) => [r.urn, r]));
            const old = (urn: string, parent?: string) => {
                const [head, proj, , name] = urn.split("::");
                const parentType = parent ? byUrn.get(parent)!.type : undefined;
                return `${head}::${proj}::${parentType ? `${parentType}$` : ""}${byUrn.get(urn)!.type}::${name}`;
            };
            const map = new Map(st.resources.map((r) => [r.urn, old(r.urn, r.parent)]));
            const v1 = {
                ...st,
                version: 1,
                resources: st.resources.map((r) => ({
                    ...r,
                    urn: map.get(r.urn),
                    parent: r.parent ? map.get(r.parent) : undefined,
                    dependencies: r.dependencies.map((d) => map.get(d) ?? d),
                })),
            };
            assert.match(v1.resources.find((x) => x.name === "t")!.urn!, /::behaviour:index:Group\$pulumi-nodejs:dynamic:Resource::t$/);
            assert.match(v1.resources.find((x) => x.name === "g1")!.urn!, /::pulumi:pulumi:Stack\$behaviour:index:Group::g1$/);
            fs.writeFileSync(s.stateFile, JSON.stringify(v1));
            s.calls();
            const r = s.ok("up", nested);
            assert.deepEqual(s.calls(), []);
            assert.match(r.stdout, /Resources: 1 unchanged/);
            const after = s.state();
            assert.equal(after.version, 2);
            assert.deepEqual(after.resources.map((x) => x.urn).sort(), st.resources.map((x) => x.urn).sort());
        });
    });

    describe("resource options", () => {
        it("aliases: a renamed resource whose alias names its old URN is that resource, no create or delete", () => {
            s.ok("up", [{ name: "old" }]);
            const id = s.state().resources.find((x) => x.name === "old")!.id;
            s.calls();
            const r = s.ok("up", [{ name: "new", opts: { aliases: ["old"] } }]);
            assert.deepEqual(s.calls(), []);
            assert.match(r.stdout, /Resources: 1 unchanged/);
            assert.deepEqual(
                s
                    .state()
                    .resources.filter((x) => x.type === DYN)
                    .map((x) => [x.name, x.id]),
                [["new", id]],
            );
        });

        it("protect refuses the delete (the other deletes go on); retainOnDelete removes from state without deleting", () => {
            s.ok("up", [
                { name: "keep" },
                { name: "guarded", opts: { protect: true } },
                { name: "retained", opts: { retainOnDelete: true } },
                { name: "plain" },
            ]);
            s.calls();
            const r = s.cli("up", [{ name: "keep" }]);
            assert.equal(r.code, 1, shown(r));
            assert.match(
                tail(r),
                /guarded: delete failed: resource "urn:pulumi:t::behaviour::pulumi-nodejs:dynamic:Resource::guarded" cannot be deleted because it is protected/,
            );
            const calls = s.calls();
            assert.ok(calls.includes("delete plain"), calls.join(", "));
            assert.ok(!calls.some((c) => c.includes("retained") || c === "delete guarded"), calls.join(", "));
            assert.deepEqual(s.names(), ["guarded", "keep"]);
        });

        it("ignoreChanges keeps the old value of an ignored property", () => {
            s.ok("up", [{ name: "a", value: "1" }]);
            s.calls();
            s.ok("up", [{ name: "a", value: "2", opts: { ignoreChanges: ["value"] } }]);
            assert.deepEqual(s.calls(), []);
            assert.equal(s.state().resources.find((x) => x.name === "a")!.inputs.value, "1");
        });
    });

    it("preview --refresh reads live state but writes nothing and takes no lock", () => {
        s.ok("up", [{ name: "a" }]);
        const before = fs.readFileSync(s.stateFile, "utf8");
        // The up's flock file stays (it is never deleted: that would reopen a race); a preview adds nothing.
        const files = fs.readdirSync(path.dirname(s.stateFile));
        s.calls();
        const r = s.ok("preview", [{ name: "a" }], "--refresh");
        assert.deepEqual(s.calls(), ["read a"]);
        assert.match(r.stdout, /~ a: drift\n\s+\+ read: true/);
        assert.equal(fs.readFileSync(s.stateFile, "utf8"), before);
        assert.deepEqual(fs.readdirSync(path.dirname(s.stateFile)), files);
    });

    it("Ctrl-C to the runner's process group: the step in flight finishes (its provider is not killed), no new step starts, exit 1", async () => {
        s.write([
            { name: "a", gate: "create" },
            { name: "b", dependsOn: ["a"] },
        ]);
        const child = spawn(process.execPath, [...CLI_ARGV, ...s.args("up", [])], {
            env: { ...process.env, ...s.env() },
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
        });
        let stderr = "";
        child.stderr.on("data", (b) => (stderr += b));
        const done = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
        const log = path.join(s.markers, "calls.log");
        for (let i = 0; i < 600 && !(fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("create a\n")); i++)
            await new Promise((r) => setTimeout(r, 50));
        process.kill(-child.pid!, "SIGINT"); // as a terminal's Ctrl-C: the whole foreground group
        for (let i = 0; i < 200 && !stderr.includes("^C received"); i++) await new Promise((r) => setTimeout(r, 50));
        fs.writeFileSync(path.join(s.markers, "a.gate"), "");
        const code = await done;
        assert.equal(code, 1, stderr);
        assert.deepEqual(s.calls(), ["create a", "create a passed the gate"]);
        assert.match(stderr, /- b: create \(depends on a, which did not complete\)|- b: create \(the run stopped: canceled by Ctrl-C\)/);
        assert.match(stderr, /error: up canceled \(Ctrl-C\): the steps in flight finished and no new step started/);
        assert.deepEqual(s.names(), ["a"], "the finished create is in state");
    });

    it("BLUEGREEN_COUNT_INCUS=1 prints the run's Incus round trips at the end; without it nothing is printed", () => {
        s.write([{ name: "a" }]);
        const counted = runCli(s.args("up", []), { ...s.env(), BLUEGREEN_COUNT_INCUS: "1", BLUEGREEN_COUNT_INCUS_FILE: undefined });
        assert.equal(counted.code, 0, shown(counted));
        assert.match(counted.stderr, /^\[incus\] 0 round trips$/m);
        const plain = runCli(s.args("up", []), { ...s.env(), BLUEGREEN_COUNT_INCUS: undefined, BLUEGREEN_COUNT_INCUS_FILE: undefined });
        assert.equal(plain.code, 0, shown(plain));
        assert.doesNotMatch(plain.stderr, /\[incus\]/);
    });
});
