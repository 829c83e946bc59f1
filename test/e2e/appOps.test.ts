// `app exec` and `app logs` on real Incus containers: a pool of two behind HAProxy on this host.
// The runner runs as an operator runs it; the containers are the stack's own.

import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT, RunResult, TestStack } from "../../harness/stack";

const A = "a22101a";
const CLI = path.join(ROOT, "scripts/local.js");

describe("e2e: app exec and app logs", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "appops", basePort: 22100 });
    const node = (n: number, color = "blue") => `${s.prefix}web-${color}-${n}`;

    /** `npm run local -- app <verb> --stack ... <rest>`: the stack's options before the user's `--`. */
    function app(verb: string, rest: readonly string[]): { child: ChildProcess; done: Promise<RunResult>; out: () => string; err: () => string } {
        const child = spawn(process.execPath, [CLI, "app", verb, "--stack", s.stack, "--config-file", s.configFile, "--cwd", ROOT, ...rest], {
            cwd: ROOT,
            env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
        child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        const done = new Promise<RunResult>((resolve) =>
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                resolve({ code: code ?? (signal ? 137 : 1), stdout, stderr });
            }),
        );
        return { child, done, out: () => stdout, err: () => stderr };
    }
    const run = (verb: string, rest: readonly string[]) => app(verb, rest).done;

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("backend", "blue"), route: "/", nodes: 2 } };
        s.setColors({ blue: A }, "blue");
        await s.publish(A);
        const up = await s.up();
        assert.equal(up.code, 0, up.stderr);
    });

    after(async () => {
        await s.teardown();
    });

    it("app exec runs the argv in every node of the live active color, each line prefixed with its container", async () => {
        const r = await run("exec", ["--component", "web", "--", "sh", "-c", 'echo "node=$BLUEGREEN_NODE"; echo "to stderr" >&2']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `[${node(1)}] node=1\n[${node(2)}] node=2\n`);
        assert.match(r.stderr, new RegExp(`\\[${node(1)}\\] to stderr\n(.|\n)*\\[${node(2)}\\] to stderr\n`));
    });

    it("app exec fails when any container's command fails, naming which; --node runs one, with its own exit code", async () => {
        const r = await run("exec", ["--component", "web", "--", "sh", "-c", 'test "$BLUEGREEN_NODE" = 1']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`error: app exec failed in 1 of 2 containers: ${node(2)} \\(exit 1\\)`));
        const one = await run("exec", ["--component", "web", "--node", "2", "--", "sh", "-c", "echo hi; exit 3"]);
        assert.equal(one.code, 3);
        assert.equal(one.stdout, "hi\n", "one container: no prefix");
    });

    it("app exec fails closed when the live active color cannot be read, unless --color names it; a color not deployed is refused", async () => {
        const file = path.join(s.layout().stateDir, "active-color");
        fs.renameSync(file, `${file}.aside`);
        fs.mkdirSync(file); // reading it fails (EISDIR): neither absent nor a color
        try {
            const r = await run("exec", ["--component", "web", "--", "true"]);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /cannot read the live active color .*active-color on this host.*Give --color blue or --color green\. Nothing was run\./);
            const given = await run("exec", ["--component", "web", "--color", "blue", "--node", "1", "--", "cat", "/proc/1/comm"]);
            assert.equal(given.code, 0, given.stderr);
        } finally {
            fs.rmdirSync(file);
            fs.renameSync(`${file}.aside`, file);
        }
        const green = await run("exec", ["--component", "web", "--color", "green", "--", "true"]);
        assert.equal(green.code, 1);
        assert.match(green.stderr, /color green is not in bluegreen:colors of stack .*, so it has no containers\. Give --color blue\. Nothing was run\./);
    });

    it("app exec --interactive gives the command a terminal, in one container only; without it there is none", async () => {
        const plain = await run("exec", ["--component", "web", "--node", "1", "--", "tty"]);
        assert.equal(plain.code, 1);
        assert.match(plain.stdout, /not a tty/);
        // `script` gives the runner a terminal, as an operator's shell has.
        const argv = [process.execPath, CLI, "app", "exec", "--stack", s.stack, "--config-file", s.configFile, "--cwd", ROOT];
        const quoted = (a: readonly string[]) => a.map((x) => `'${x}'`).join(" ");
        const tty = spawnSync("script", ["-qec", quoted([...argv, "--component", "web", "--node", "1", "--interactive", "--", "tty"]), "/dev/null"], {
            encoding: "utf8",
            timeout: 60_000,
            env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "" },
        });
        assert.equal(tty.status, 0, tty.stdout + tty.stderr);
        assert.match(tty.stdout, /\/dev\/pts\/\d+/);
        const two = await run("exec", ["--component", "web", "--interactive", "--", "sh"]);
        assert.equal(two.code, 1);
        assert.match(
            two.stderr,
            new RegExp(
                `--interactive runs in one container; 2 match \\(${node(1)}, ${node(2)}\\)\\. Add --node <n>, or leave out --interactive\\. Nothing was run\\.`,
            ),
        );
    });

    it("app logs -n: the last n lines of each container's app log, container by container", async () => {
        const w = await run("exec", [
            "--component",
            "web",
            "--",
            "sh",
            "-c",
            'for i in 1 2 3; do echo "line-$BLUEGREEN_NODE-$i"; done >>/var/log/bluegreen-app.log',
        ]);
        assert.equal(w.code, 0, w.stderr);
        const r = await run("logs", ["-n", "2"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, [`[${node(1)}] line-1-2`, `[${node(1)}] line-1-3`, `[${node(2)}] line-2-2`, `[${node(2)}] line-2-3`, ""].join("\n"));
        const one = await run("logs", ["--component", "web", "--node", "1", "-n", "1"]);
        assert.equal(one.stdout, "line-1-3\n");
    });

    it("app logs -f shows a line written after it started, then stops on Ctrl-C", async () => {
        const f = app("logs", ["--component", "web", "-n", "0", "-f"]);
        const until = async (what: string, ok: () => boolean, ms: number) => {
            const t0 = Date.now();
            while (!ok()) {
                if (Date.now() - t0 > ms) assert.fail(`${what} within ${ms} ms; stdout: ${f.out()}; stderr: ${f.err()}`);
                await new Promise((r) => setTimeout(r, 100));
            }
            return Date.now() - t0;
        };
        await until("following", () => f.err().includes("following 2 logs"), 20_000);
        const w = await run("exec", ["--component", "web", "--node", "2", "--", "sh", "-c", "echo followed-line >>/var/log/bluegreen-app.log"]);
        assert.equal(w.code, 0, w.stderr);
        const seenIn = await until("the new line", () => f.out().includes(`[${node(2)}] followed-line\n`), 10_000);
        assert.ok(seenIn < 10_000);
        assert.ok(!f.out().includes("line-2-3"), "-n 0: nothing from before");
        f.child.kill("SIGINT");
        const r = await f.done;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /\^C received: app logs stops after its current pull/);
    });

    it("app exec runs nowhere when a selected container is not RUNNING, naming it and the heal", async () => {
        assert.equal(spawnSync("incus", ["stop", "--force", node(2)]).status, 0);
        const r = await run("exec", ["--component", "web", "--", "touch", "/tmp/app-exec-ran"]);
        assert.equal(r.code, 1);
        assert.match(
            r.stderr,
            new RegExp(
                `app exec needs every selected container RUNNING; ${node(2)} is STOPPED\\. Run \`npm run local -- up --stack ${s.stack}\` to heal it, or pick a running node with --node <n>\\. The command ran nowhere\\.`,
            ),
        );
        assert.equal(spawnSync("incus", ["exec", node(1), "--", "test", "-e", "/tmp/app-exec-ran"]).status, 1, "node 1 did not run it either");
    });
});
