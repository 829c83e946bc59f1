import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import {
    APPEND_SCRIPT,
    WRITE_SCRIPT,
    CREATE_SCRIPT,
    writeHostFileThenRename,
    HaproxyHost,
    appendHostFile,
    createHostFileExclusive,
    describeHost,
    hostState,
    onHost,
    readHostFile,
    removeHostFile,
    renameHostFile,
    validateConfig,
    VALIDATE_SCRIPT,
    writeAndValidate,
    writeHostFile,
} from "../../../components/io/haproxyHost";
import { INCUS_NOT_FOUND, RunnerStub, fail, instanceJson, ok, stubRunner } from "../../helpers/runnerStub";
import { makeTmp, removeTmp } from "../../helpers/tmp";

const HOST: HaproxyHost = { placement: "host" };
const INST: HaproxyHost = { placement: "incus", instance: "prod-haproxy", remote: "prod" };
const LOCAL_INST: HaproxyHost = { placement: "incus", instance: "dev-haproxy" };

describe("haproxyHost", () => {
    describe("onHost", () => {
        it("runs argv as is on this host, 30 s by default", () => {
            assert.deepEqual(onHost(HOST, ["haproxy", "-c", "-q", "-f", "/x.cfg"]), {
                argv: ["haproxy", "-c", "-q", "-f", "/x.cfg"],
                input: undefined,
                timeoutMs: 30_000,
            });
            assert.deepEqual(onHost(HOST, ["cat"], { input: "x", timeoutMs: 5 }), { argv: ["cat"], input: "x", timeoutMs: 5 });
        });

        it("wraps argv in incus exec for an instance", () => {
            assert.deepEqual(onHost(INST, ["cat", "--", "/f"]), {
                argv: ["incus", "exec", "prod:prod-haproxy", "--", "cat", "--", "/f"],
                input: undefined,
                timeoutMs: 30_000,
            });
            assert.deepEqual(onHost(LOCAL_INST, ["tee", "-a", "--", "/f"], { input: "l\n", timeoutMs: 9 }), {
                argv: ["incus", "exec", "dev-haproxy", "--", "tee", "-a", "--", "/f"],
                input: "l\n",
                timeoutMs: 9,
            });
        });
    });

    it("describeHost names the host or the instance", () => {
        assert.equal(describeHost(HOST), "this host");
        assert.equal(describeHost(INST), "instance prod:prod-haproxy");
        assert.equal(describeHost(LOCAL_INST), "instance dev-haproxy");
    });

    describe("host placement files", () => {
        let dir: string;
        let stub: RunnerStub | undefined;
        beforeEach(() => {
            dir = makeTmp();
            // Nothing here may run a process.
            stub = stubRunner(() => assert.fail("host placement ran a command"));
        });
        afterEach(() => {
            stub?.restore();
            removeTmp(dir);
        });

        it("hostState is Running without asking anything", async () => {
            assert.equal(await hostState(HOST), "Running");
            assert.equal(stub!.calls.length, 0);
        });

        it("readHostFile gives undefined for a missing file, the text otherwise", async () => {
            const f = path.join(dir, "f");
            assert.equal(await readHostFile(HOST, f), undefined);
            fs.writeFileSync(f, "text\n");
            assert.equal(await readHostFile(HOST, f), "text\n");
        });

        it("readHostFile throws other errors", async () => {
            await assert.rejects(readHostFile(HOST, dir), { code: "EISDIR" });
        });

        it("writeHostFile creates parent dirs and replaces atomically, leaving no temp file", async () => {
            const f = path.join(dir, "a", "b", "haproxy.cfg");
            await writeHostFile(HOST, f, "one\n");
            assert.equal(fs.readFileSync(f, "utf8"), "one\n");
            const inode = fs.statSync(f).ino;
            await writeHostFile(HOST, f, "two\n");
            assert.equal(fs.readFileSync(f, "utf8"), "two\n");
            assert.notEqual(fs.statSync(f).ino, inode, "a new file was renamed over the old one");
            assert.deepEqual(fs.readdirSync(path.dirname(f)), ["haproxy.cfg"]);
            assert.equal(fs.statSync(f).mode & 0o777, 0o600, "private to its owner, whatever the umask");
            assert.equal(fs.statSync(path.dirname(f)).mode & 0o777, 0o700);
            assert.equal(fs.statSync(path.join(dir, "a")).mode & 0o777, 0o700, "every directory it creates is private");
        });

        it("appendHostFile appends, creating the parent dir (0700) and the file (0600)", async () => {
            const f = path.join(dir, "s", "history");
            await appendHostFile(HOST, f, "a\n");
            await appendHostFile(HOST, f, "b\n");
            assert.equal(fs.readFileSync(f, "utf8"), "a\nb\n");
            assert.equal(fs.statSync(f).mode & 0o777, 0o600);
            assert.equal(fs.statSync(path.dirname(f)).mode & 0o777, 0o700);
        });

        it("appendHostFile makes a file an earlier version left world-readable private", async () => {
            const f = path.join(dir, "audit.jsonl");
            fs.writeFileSync(f, "old\n", { mode: 0o644 });
            fs.chmodSync(f, 0o644);
            await appendHostFile(HOST, f, "new\n");
            assert.equal(fs.statSync(f).mode & 0o777, 0o600);
        });

        it("createHostFileExclusive makes the file 0600", async () => {
            const f = path.join(dir, "d", "lock.json");
            assert.equal(await createHostFileExclusive(HOST, f, "{}\n"), true);
            assert.equal(fs.statSync(f).mode & 0o777, 0o600);
            assert.equal(fs.statSync(path.dirname(f)).mode & 0o777, 0o700);
        });

        it("renameHostFile moves a file over another", async () => {
            const from = path.join(dir, "cfg.new");
            const to = path.join(dir, "cfg");
            fs.writeFileSync(from, "new");
            fs.writeFileSync(to, "old");
            await renameHostFile(HOST, from, to);
            assert.equal(fs.readFileSync(to, "utf8"), "new");
            assert.equal(fs.existsSync(from), false);
        });

        it("removeHostFile removes, and ignores a missing file", async () => {
            const f = path.join(dir, "cfg.new");
            fs.writeFileSync(f, "x");
            await removeHostFile(HOST, f);
            assert.equal(fs.existsSync(f), false);
            await removeHostFile(HOST, f);
            assert.deepEqual(fs.readdirSync(dir), []);
        });
    });

    describe("incus placement", () => {
        let stub: RunnerStub | undefined;
        afterEach(() => stub?.restore());

        it("hostState is the instance's status, or absent", async () => {
            stub = stubRunner(() => ok(instanceJson("prod-haproxy", "Running")));
            assert.equal(await hostState(INST), "Running");
            assert.deepEqual(stub.argvs(), [["incus", "query", "prod:/1.0/instances/prod-haproxy"]]);
            stub.restore();
            stub = stubRunner(() => ok(instanceJson("prod-haproxy", "Stopped")));
            assert.equal(await hostState(INST), "Stopped");
            stub.restore();
            stub = stubRunner(() => INCUS_NOT_FOUND);
            assert.equal(await hostState(INST), "absent");
        });

        it("validateConfig asks haproxy -c again once when Incus dropped its output, so the reason is kept", async () => {
            const argv = ["incus", "exec", "prod:prod-haproxy", "--", "haproxy", "-c", "-f", "/etc/haproxy/bluegreen.cfg.new"];
            stub = stubRunner((_c, n) => (n === 1 ? fail(1, "") : fail(1, "[ALERT] unknown keyword 'bogus'")));
            assert.equal((await validateConfig(INST, "/etc/haproxy/bluegreen.cfg.new")).stderr, "[ALERT] unknown keyword 'bogus'");
            assert.deepEqual(stub.argvs(), [argv, argv]);
            stub.restore();
            stub = stubRunner(() => fail(1, "[ALERT] unknown keyword 'bogus'"));
            await validateConfig(INST, "/etc/haproxy/bluegreen.cfg.new");
            assert.equal(stub.calls.length, 1, "an answer with a reason is not asked again");
            stub.restore();
            stub = stubRunner(() => ok("Configuration file is valid\n"));
            assert.equal((await validateConfig(INST, "/etc/haproxy/bluegreen.cfg.new")).code, 0);
            assert.equal(stub.calls.length, 1);
        });

        it("writeAndValidate writes the candidate and runs haproxy -c on it in one exec (one Incus round trip)", async () => {
            const argv = [
                "incus",
                "exec",
                "prod:prod-haproxy",
                "--",
                "sh",
                "-c",
                VALIDATE_SCRIPT,
                "sh",
                "/etc/haproxy/bluegreen.cfg.new",
                `${process.pid}`,
                "7",
            ];
            stub = stubRunner(() => ok("Configuration file is valid\n"));
            assert.equal((await writeAndValidate(INST, "/etc/haproxy/bluegreen.cfg.new", "global\n")).code, 0);
            assert.deepEqual(stub.argvs(), [argv]);
            assert.equal(stub.calls[0].input, "global\n");
            stub.restore();
            stub = stubRunner((_c, n) => (n === 1 ? fail(1, "") : fail(1, "[ALERT] unknown keyword 'bogus'")));
            assert.equal((await writeAndValidate(INST, "/etc/haproxy/bluegreen.cfg.new", "global\n")).stderr, "[ALERT] unknown keyword 'bogus'");
            assert.deepEqual(stub.argvs(), [argv, argv], "asked again once when Incus dropped the output");
            stub.restore();
            stub = stubRunner(() => fail(125, "bluegreen: cannot write /etc/haproxy/bluegreen.cfg.new"));
            await assert.rejects(writeAndValidate(INST, "/etc/haproxy/bluegreen.cfg.new", "global\n"), {
                message: /^cannot write \/etc\/haproxy\/bluegreen\.cfg\.new on instance prod:prod-haproxy: `incus exec .* exited 125: bluegreen: cannot write/,
            });
            assert.equal(stub.calls.length, 1, "a failed write is an error, never HAProxy's verdict");
        });

        it("the validate script: a failed write exits 125 before haproxy runs; otherwise haproxy -c's verdict", () => {
            const dir = makeTmp();
            try {
                const f = path.join(dir, "c.cfg");
                const bin = path.join(dir, "bin");
                fs.mkdirSync(bin);
                // A stand-in haproxy on PATH: says which file it checked, and fails on "bad".
                fs.writeFileSync(path.join(bin, "haproxy"), '#!/bin/sh\necho "checked $3"; grep -q bad "$3" && exit 1; exit 0\n', { mode: 0o755 });
                const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
                const v = (input: string, size: number) =>
                    spawnSync("sh", ["-c", VALIDATE_SCRIPT, "sh", f, "7", String(size)], { input, encoding: "utf8", env });
                const good = v("good\n", 5);
                assert.deepEqual([good.status, good.stdout, fs.readFileSync(f, "utf8")], [0, `checked ${f}\n`, "good\n"]);
                assert.equal(v("bad\n", 4).status, 1);
                const short = v("ba", 4);
                assert.deepEqual([short.status, short.stdout], [125, ""], "haproxy never ran");
                assert.match(short.stderr, /cannot write/);
            } finally {
                removeTmp(dir);
            }
        });

        it("readHostFile pulls the file from the instance (not exec cat: Incus may drop exec output)", async () => {
            stub = stubRunner(() => ok("blue\n"));
            assert.equal(await readHostFile(INST, "/var/lib/veza/active-color"), "blue\n");
            assert.deepEqual(stub.argvs(), [["incus", "file", "pull", "prod:prod-haproxy/var/lib/veza/active-color", "-"]]);
        });

        it("readHostFile gives undefined for a missing file", async () => {
            stub = stubRunner(() => fail(1, "Error: file does not exist\n"));
            assert.equal(await readHostFile(INST, "/var/lib/veza/active-color"), undefined);
        });

        it("readHostFile throws other errors naming the file and the instance", async () => {
            stub = stubRunner(() => fail(1, "Error: Instance is not running"));
            await assert.rejects(readHostFile(INST, "/f"), {
                message: "cannot read /f in prod:prod-haproxy: `incus file pull prod:prod-haproxy/f -` exited 1: Error: Instance is not running",
            });
        });

        it("writeHostFile replaces the file in one exec (one Incus round trip): stdin to a temp file beside it, its size checked, renamed over", async () => {
            stub = stubRunner(() => ok());
            await writeHostFile(INST, "/etc/haproxy/bluegreen.cfg", "global\né\n");
            assert.deepEqual(stub.argvs(), [
                ["incus", "exec", "prod:prod-haproxy", "--", "sh", "-c", WRITE_SCRIPT, "sh", "/etc/haproxy/bluegreen.cfg", `${process.pid}`, "10"],
            ]);
            assert.equal(stub.calls[0].input, "global\né\n");
        });

        it("writeHostFile names the file and the instance when the write fails", async () => {
            stub = stubRunner(() => fail(1, "sh: can't create /etc/haproxy/x: Read-only file system"));
            await assert.rejects(writeHostFile(LOCAL_INST, "/etc/haproxy/bluegreen.cfg", "x"), (e: Error) => {
                assert.match(e.message, /^cannot write \/etc\/haproxy\/bluegreen\.cfg on instance dev-haproxy: `incus exec dev-haproxy -- sh -c /);
                return true;
            });
            assert.equal(stub.calls.length, 1);
        });

        it("the write script makes the dir, writes a 0600 file atomically, and leaves the old one when stdin came short", async () => {
            const dir = makeTmp();
            try {
                const f = path.join(dir, "a", "b", "bluegreen.cfg");
                const w = (input: string, size: number) => spawnSync("sh", ["-c", WRITE_SCRIPT, "sh", f, "7", String(size)], { input, encoding: "utf8" });
                assert.equal(w("one\n", 4).status, 0);
                assert.equal(fs.readFileSync(f, "utf8"), "one\n");
                assert.equal(fs.statSync(f).mode & 0o777, 0o600);
                const short = w("tw", 4);
                assert.notEqual(short.status, 0, "a short write fails");
                assert.equal(fs.readFileSync(f, "utf8"), "one\n", "the old file stays");
                assert.equal(w("two\n", 4).status, 0);
                assert.equal(fs.readFileSync(f, "utf8"), "two\n");
                assert.deepEqual(fs.readdirSync(path.dirname(f)), ["bluegreen.cfg"], "no temp file left");
            } finally {
                removeTmp(dir);
            }
        });

        it("createHostFileExclusive is one exec (one Incus round trip): exit 0 made it, 17 found it there; anything else is an error", async () => {
            stub = stubRunner(() => ok());
            assert.equal(await createHostFileExclusive(INST, "/var/lib/app/prod/lock.json", "{}\n"), true);
            assert.deepEqual(stub.argvs(), [
                ["incus", "exec", "prod:prod-haproxy", "--", "sh", "-c", CREATE_SCRIPT, "sh", "/var/lib/app/prod/lock.json", `${process.pid}`, "3"],
            ]);
            assert.equal(stub.calls[0].input, "{}\n");
            stub.restore();
            stub = stubRunner(() => fail(17, ""));
            assert.equal(await createHostFileExclusive(INST, "/var/lib/app/prod/lock.json", "{}\n"), false);
            stub.restore();
            stub = stubRunner(() => fail(1, "Error: Instance is not running"));
            await assert.rejects(createHostFileExclusive(INST, "/var/lib/app/prod/lock.json", "{}\n"), {
                message: /^cannot create \/var\/lib\/app\/prod\/lock\.json on instance prod:prod-haproxy: .*Instance is not running/,
            });
            assert.equal(stub.calls.length, 1);
        });

        it("the create script: makes the file 0600 with its whole content only when absent, and leaves no temp file", () => {
            const dir = makeTmp();
            try {
                const f = path.join(dir, "a", "lock.json");
                const c = (input: string, size: number) => spawnSync("sh", ["-c", CREATE_SCRIPT, "sh", f, "7", String(size)], { input, encoding: "utf8" });
                assert.equal(c("on", 4).status, 1, "a short stdin is an error");
                assert.equal(fs.existsSync(f), false);
                assert.equal(c("one\n", 4).status, 0);
                assert.equal(fs.readFileSync(f, "utf8"), "one\n");
                assert.equal(fs.statSync(f).mode & 0o777, 0o600);
                assert.equal(c("two\n", 4).status, 17, "already there");
                assert.equal(fs.readFileSync(f, "utf8"), "one\n", "left as it was");
                assert.deepEqual(fs.readdirSync(path.dirname(f)), ["lock.json"], "no temp file left");
            } finally {
                removeTmp(dir);
            }
        });

        it("writeHostFileThenRename: the write, then the rename, in one exec (one Incus round trip)", async () => {
            stub = stubRunner(() => ok());
            await writeHostFileThenRename(INST, "/etc/haproxy/bluegreen.cfg.bak", "old\n", "/etc/haproxy/bluegreen.cfg.new", "/etc/haproxy/bluegreen.cfg");
            assert.deepEqual(stub.argvs(), [
                [
                    "incus",
                    "exec",
                    "prod:prod-haproxy",
                    "--",
                    "sh",
                    "-c",
                    WRITE_SCRIPT,
                    "sh",
                    "/etc/haproxy/bluegreen.cfg.bak",
                    `${process.pid}`,
                    "4",
                    "/etc/haproxy/bluegreen.cfg.new",
                    "/etc/haproxy/bluegreen.cfg",
                ],
            ]);
            assert.equal(stub.calls[0].input, "old\n");
        });

        it("the write script renames $4 over $5 only after a whole write", async () => {
            const dir = makeTmp();
            try {
                const [bak, cand, cfg] = ["cfg.bak", "cfg.new", "cfg"].map((n) => path.join(dir, n));
                fs.writeFileSync(cand, "new\n");
                fs.writeFileSync(cfg, "old\n");
                const w = (input: string) => spawnSync("sh", ["-c", WRITE_SCRIPT, "sh", bak, "7", "4", cand, cfg], { input, encoding: "utf8" });
                assert.notEqual(w("ol").status, 0, "a short write fails");
                assert.deepEqual([fs.existsSync(bak), fs.readFileSync(cfg, "utf8"), fs.existsSync(cand)], [false, "old\n", true], "nothing renamed");
                assert.equal(w("old\n").status, 0);
                assert.deepEqual([fs.readFileSync(bak, "utf8"), fs.readFileSync(cfg, "utf8"), fs.existsSync(cand)], ["old\n", "new\n", false]);
            } finally {
                removeTmp(dir);
            }
        });

        it("appendHostFile makes the dir (0700) and appends the line to a 0600 file, in one exec of a constant script", async () => {
            stub = stubRunner(() => ok());
            await appendHostFile(INST, "/var/lib/veza/history", "2026-11-21T10:00:00Z green abc1234\n");
            assert.deepEqual(stub.argvs(), [["incus", "exec", "prod:prod-haproxy", "--", "sh", "-c", APPEND_SCRIPT, "sh", "/var/lib/veza/history"]]);
            assert.equal(stub.calls[0].input, "2026-11-21T10:00:00Z green abc1234\n");
        });

        it("the append script creates private dirs and files, and appends", async () => {
            const dir = makeTmp();
            try {
                const f = path.join(dir, "a", "b", "audit.jsonl");
                for (const line of ["one\n", "two\n"]) {
                    const r = spawnSync("sh", ["-c", APPEND_SCRIPT, "sh", f], { input: line, encoding: "utf8" });
                    assert.equal(r.status, 0, r.stderr);
                }
                assert.equal(fs.readFileSync(f, "utf8"), "one\ntwo\n");
                assert.equal(fs.statSync(f).mode & 0o777, 0o600);
                assert.equal(fs.statSync(path.join(dir, "a")).mode & 0o777, 0o700);
                assert.equal(fs.statSync(path.join(dir, "a", "b")).mode & 0o777, 0o700);
            } finally {
                removeTmp(dir);
            }
        });

        it("renameHostFile and removeHostFile", async () => {
            stub = stubRunner(() => ok());
            await renameHostFile(INST, "/a.new", "/a");
            await removeHostFile(INST, "/a.new");
            assert.deepEqual(stub.argvs(), [
                ["incus", "exec", "prod:prod-haproxy", "--", "mv", "-f", "--", "/a.new", "/a"],
                ["incus", "exec", "prod:prod-haproxy", "--", "rm", "-f", "--", "/a.new"],
            ]);
        });

        it("removeHostFile failure names the file", async () => {
            stub = stubRunner(() => fail(1, "rm: cannot remove '/a': Permission denied"));
            await assert.rejects(removeHostFile(INST, "/a"), {
                message:
                    "cannot remove /a on instance prod:prod-haproxy: `incus exec prod:prod-haproxy -- rm -f -- /a` exited 1: rm: cannot remove '/a': Permission denied",
            });
        });
    });
});
