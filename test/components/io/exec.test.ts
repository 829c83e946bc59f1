import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { COUNT_INCUS_FILE, Cmd, CmdResult, runOrThrow, cmdError, run, runLive, setRunner, spawnRunner } from "../../../components/io/exec";
import { makeTmp, removeTmp } from "../../helpers/tmp";

describe("exec", () => {
    describe("spawnRunner", () => {
        it("collects stdout and exit code 0", async () => {
            assert.deepEqual(await spawnRunner({ argv: ["/bin/echo", "hello", "a b"] }), { code: 0, stdout: "hello a b\n", stderr: "" });
        });

        it("passes arguments verbatim, with no shell in between", async () => {
            const r = await spawnRunner({ argv: ["/bin/echo", "$HOME", "; rm -rf /", "`id`"] });
            assert.equal(r.stdout, "$HOME ; rm -rf / `id`\n");
        });

        it("writes input to stdin, then closes it", async () => {
            assert.deepEqual(await spawnRunner({ argv: ["/bin/cat"], input: "line 1\nline 2\n" }), { code: 0, stdout: "line 1\nline 2\n", stderr: "" });
            assert.equal((await spawnRunner({ argv: ["/bin/cat"], input: Buffer.from("bytes") })).stdout, "bytes");
            assert.equal((await spawnRunner({ argv: ["/bin/cat"] })).stdout, "");
        });

        it("collects stderr and a non-zero exit code", async () => {
            assert.deepEqual(await spawnRunner({ argv: ["/bin/false"] }), { code: 1, stdout: "", stderr: "" });
            assert.deepEqual(await spawnRunner({ argv: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"] }), { code: 3, stdout: "out\n", stderr: "err\n" });
        });

        it("kills a command that outlives timeoutMs and marks it timedOut", async () => {
            const r = await spawnRunner({ argv: ["sleep", "5"], timeoutMs: 200 });
            assert.deepEqual(r, { code: 128, stdout: "", stderr: "", timedOut: true });
        });

        it("leaves timedOut out when the command finished in time", async () => {
            const r = await spawnRunner({ argv: ["/bin/echo"], timeoutMs: 5000 });
            assert.equal("timedOut" in r, false);
        });

        it("gives code 127 and a hint for a missing binary", async () => {
            const r = await spawnRunner({ argv: ["no-such-binary-bluegreen"] });
            assert.equal(r.code, 127);
            assert.equal(r.stdout, "");
            assert.match(r.stderr, /ENOENT/);
            assert.match(r.stderr, /\(is no-such-binary-bluegreen installed\? run scripts\/setup-host\.sh\)$/);
        });

        it("adds env to the inherited environment and honours cwd", async () => {
            const dir = makeTmp();
            try {
                const env = await spawnRunner({ argv: ["/bin/sh", "-c", 'echo "$BG_TEST_VAR:${PATH:+path}"'], env: { BG_TEST_VAR: "v1" } });
                assert.equal(env.stdout, "v1:path\n");
                const pwd = await spawnRunner({ argv: ["/bin/pwd"], cwd: dir });
                assert.equal(pwd.stdout.trim(), fs.realpathSync(dir));
            } finally {
                removeTmp(dir);
            }
        });
    });

    describe("cmdError", () => {
        const cmd: Cmd = { argv: ["incus", "query", "/1.0/instances/x"] };

        it("names the argv, the exit code and stderr, after the context", () => {
            const e = cmdError(cmd, { code: 1, stdout: "", stderr: "Error: boom\n" }, "cannot read x");
            assert.equal(e.message, "cannot read x: `incus query /1.0/instances/x` exited 1: Error: boom");
            assert.equal(e.name, "cmdError");
        });

        it("keeps stdout too when stderr has a warning: a tool that warns on stderr and fails on stdout keeps its reason (seed 003)", () => {
            const e = cmdError(
                { argv: ["incus", "storage", "volume", "snapshot", "restore", "p", "v", "kg-1"] },
                { code: 1, stdout: "Error: snapshot kg-1 is in use\n", stderr: "WARNING: cgroup v2 is not fully supported\n" },
            );
            assert.match(e.message, /WARNING: cgroup v2 is not fully supported/);
            assert.match(e.message, /Error: snapshot kg-1 is in use/);
            assert.equal(
                e.message,
                "`incus storage volume snapshot restore p v kg-1` exited 1: WARNING: cgroup v2 is not fully supported (stdout: Error: snapshot kg-1 is in use)",
            );
        });

        it("bounds both streams when both are long", () => {
            const e = cmdError(cmd, { code: 1, stdout: "o".repeat(5000), stderr: "e".repeat(5000) });
            assert.ok(e.message.length <= 2200, `${e.message.length} characters`);
            assert.match(e.message, /e{1000} \(stdout: o{1000}\)$/);
        });

        it("falls back to stdout, and to nothing, for the detail", () => {
            assert.equal(cmdError(cmd, { code: 2, stdout: "only out\n", stderr: "  " }).message, "`incus query /1.0/instances/x` exited 2: only out");
            assert.equal(cmdError(cmd, { code: 2, stdout: "", stderr: "" }).message, "`incus query /1.0/instances/x` exited 2");
        });

        it("says how long a timed-out command ran", () => {
            assert.equal(
                cmdError({ argv: ["sleep", "5"], timeoutMs: 200 }, { code: 128, stdout: "", stderr: "", timedOut: true }).message,
                "`sleep 5` timed out after 200 ms",
            );
            assert.equal(
                cmdError({ argv: ["sleep", "5"] }, { code: 128, stdout: "", stderr: "", timedOut: true }).message,
                "`sleep 5` timed out after 120000 ms",
            );
        });

        it("keeps at most 2000 characters of output", () => {
            const e = cmdError(cmd, { code: 1, stdout: "", stderr: "x".repeat(5000) });
            assert.equal(e.message, "`incus query /1.0/instances/x` exited 1: " + "x".repeat(2000));
        });
    });

    describe("run, check and setRunner", () => {
        let restore: (() => void) | undefined;
        afterEach(() => {
            restore?.();
            restore = undefined;
        });

        it("run goes through the stubbed runner", async () => {
            const seen: Cmd[] = [];
            restore = setRunner(async (cmd) => {
                seen.push(cmd);
                return { code: 0, stdout: "stubbed", stderr: "" };
            });
            const r = await run({ argv: ["/bin/false"], input: "x" });
            assert.deepEqual(r, { code: 0, stdout: "stubbed", stderr: "" });
            assert.deepEqual(seen, [{ argv: ["/bin/false"], input: "x" }]);
        });

        it("runOrThrow returns the result of a command that exits 0", async () => {
            restore = setRunner(async () => ({ code: 0, stdout: "fine", stderr: "" }));
            assert.deepEqual(await runOrThrow({ argv: ["true"] }), { code: 0, stdout: "fine", stderr: "" });
        });

        it("runOrThrow throws a cmdError naming the argv and stderr", async () => {
            restore = setRunner(async () => ({ code: 2, stdout: "", stderr: "socat: E connect(): No such file or directory" }));
            await assert.rejects(runOrThrow({ argv: ["socat", "stdio", "unix-connect:/x.sock"] }, "ctx"), {
                name: "cmdError",
                message: "ctx: `socat stdio unix-connect:/x.sock` exited 2: socat: E connect(): No such file or directory",
            });
        });

        it("restore functions undo nested stubs in order, back to the real runner", async () => {
            const answer = (stdout: string) => async (): Promise<CmdResult> => ({ code: 0, stdout, stderr: "" });
            const restoreOuter = setRunner(answer("outer"));
            const restoreInner = setRunner(answer("inner"));
            assert.equal((await run({ argv: ["/bin/echo", "real"] })).stdout, "inner");
            restoreInner();
            assert.equal((await run({ argv: ["/bin/echo", "real"] })).stdout, "outer");
            restoreOuter();
            assert.equal((await run({ argv: ["/bin/echo", "real"] })).stdout, "real\n");
        });
    });

    describe("counting incus round trips (BLUEGREEN_COUNT_INCUS_FILE)", () => {
        const ok = async (): Promise<CmdResult> => ({ code: 0, stdout: "", stderr: "" });
        it("appends the kind of each incus command run or runLive runs, and nothing for other programs", async () => {
            const dir = makeTmp();
            const file = path.join(dir, "count");
            const restore = setRunner(ok);
            process.env[COUNT_INCUS_FILE] = file;
            try {
                await run({ argv: ["incus", "exec", "r:h", "--", "socat", "-", "UNIX:/s"] });
                await run({ argv: ["haproxy", "-c"] });
                await run({ argv: ["incus", "file", "pull", "r:h/f", "-"] });
                await runLive({ argv: ["incus", "--version"] });
                assert.equal(fs.readFileSync(file, "utf8"), "exec\nfile pull\nincus\n");
            } finally {
                delete process.env[COUNT_INCUS_FILE];
                restore();
                removeTmp(dir);
            }
        });

        it("writes nothing when the switch is off", async () => {
            const dir = makeTmp();
            const restore = setRunner(ok);
            try {
                await run({ argv: ["incus", "exec", "r:h", "--", "true"] });
                assert.deepEqual(fs.readdirSync(dir), []);
            } finally {
                restore();
                removeTmp(dir);
            }
        });
    });
});
