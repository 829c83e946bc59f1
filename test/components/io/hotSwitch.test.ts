import assert from "node:assert/strict";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { spawn } from "child_process";
import { FLIP, FLIP_SCRIPT, READ_SCRIPT, flip, flipCmd, parseParts, readAll, readCmd, sha256 } from "../../../components/io/hotSwitch";
import { EXEC_SENTINEL } from "../../../components/io/runtimeApi";
import { RunnerStub, fail, ok, stubRunner } from "../../helpers/runnerStub";
import { makeTmp, removeTmp } from "../../helpers/tmp";

const TARGET = { remote: "prod" };

/** Runs a script with sh, stdin given, asynchronously (a fake HAProxy socket answers in this process). */
function sh(script: string, args: readonly string[], input: string | Buffer, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string }> {
    return new Promise((resolve) => {
        const p = spawn("sh", ["-c", script, "sh", ...args], { env });
        let stdout = "";
        p.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
        p.stderr.on("data", () => undefined);
        p.on("close", (code) => resolve({ code: code ?? -1, stdout }));
        p.stdin.end(input);
    });
}

/** A stand-in HAProxy socket: answers each connection from `answer(request)`, and records the requests. */
function fakeSocket(file: string, answer: (req: string) => string): Promise<{ requests: string[]; close: () => void }> {
    const requests: string[] = [];
    const server = net.createServer((c) => {
        let req = "";
        c.on("data", (b: Buffer) => {
            req += b.toString("utf8");
            if (req.endsWith("quit\n")) {
                requests.push(req);
                c.end(answer(req));
            }
        });
    });
    return new Promise((resolve) => server.listen(file, () => resolve({ requests, close: () => server.close() })));
}

const STATE = (blueOp: number, blueAdmin: number) =>
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n" +
    `3 be_web 1 blue 127.0.0.1 ${blueOp} ${blueAdmin} 1 1 5 6 0 0 0 0\n` +
    "3 be_web 2 green 127.0.0.1 2 0 0 1 5 6 0 0 0 0\n";

/** STATE's servers as the last run left them: blue has the weight (1), green none; both ready. */
const GUARD = [
    { backend: "be_web", server: "blue", adminState: 0, weight: 1 },
    { backend: "be_web", server: "green", adminState: 0, weight: 0 },
];

describe("hotSwitch (the switch over a remote in one exec)", () => {
    let stub: RunnerStub | undefined;
    afterEach(() => stub?.restore());

    it("readCmd: one exec of the constant read script, the sockets and files as arguments", () => {
        assert.deepEqual(readCmd(TARGET, "prod-haproxy", { master: "/run/haproxy/master.sock", admin: "/run/haproxy/admin.sock" }, ["/a", "/b"]).argv, [
            "incus",
            "exec",
            "prod:prod-haproxy",
            "--",
            "sh",
            "-c",
            READ_SCRIPT,
            "sh",
            "/run/haproxy/master.sock",
            "/run/haproxy/admin.sock",
            "/a",
            "/b",
        ]);
    });

    it("parseParts: framed by byte counts, absent files apart; undefined when the output is not whole", () => {
        const out = `__bluegreen_part 0 5\nproc\n\n__bluegreen_part 0 3\né\n\n__bluegreen_part - 0\n\n${EXEC_SENTINEL} 0\n`;
        assert.deepEqual(parseParts(out, 3), [{ rc: 0, text: "proc\n" }, { rc: 0, text: "é\n" }, { text: "" }]);
        assert.equal(parseParts(out, 4), undefined, "a part missing");
        assert.equal(parseParts(out.replace(`${EXEC_SENTINEL} 0\n`, ""), 3), undefined, "no sentinel: Incus lost output");
        assert.equal(parseParts(out.replace("proc\n", "pro\n"), 3), undefined, "a short part");
    });

    it("readAll asks again when Incus lost the output, at most 3 times", async () => {
        const whole = `__bluegreen_part 1 0\n\n__bluegreen_part 1 0\n\n__bluegreen_part - 0\n\n${EXEC_SENTINEL} 0\n`;
        stub = stubRunner((_c, n) => (n === 1 ? ok("") : ok(whole)));
        const r = await readAll(TARGET, "i", { master: "/m", admin: "/a" }, ["/f"]);
        assert.deepEqual(r?.files, [{ text: "" }]);
        assert.equal(stub.calls.length, 2);
        stub.restore();
        stub = stubRunner(() => ok(""));
        assert.equal(await readAll(TARGET, "i", { master: "/m", admin: "/a" }, ["/f"]), undefined);
        assert.equal(stub.calls.length, 3);
    });

    it("the read script prints show proc, the servers state and each file (absent ones marked)", async () => {
        const dir = makeTmp();
        const [master, admin] = await Promise.all([
            fakeSocket(path.join(dir, "m.sock"), () => "#<PID> <type> <reloads>\n1 master 0\n"),
            fakeSocket(path.join(dir, "a.sock"), () => `${STATE(2, 0)}2.6.12\n`),
        ]);
        try {
            fs.writeFileSync(path.join(dir, "cfg"), "global\n");
            const r = await sh(
                READ_SCRIPT,
                [path.join(dir, "m.sock"), path.join(dir, "a.sock"), path.join(dir, "cfg"), path.join(dir, "none")],
                "",
                process.env,
            );
            assert.equal(r.code, 0);
            const parts = parseParts(r.stdout, 4);
            assert.ok(parts, r.stdout);
            assert.deepEqual(parts[0], { rc: 0, text: "#<PID> <type> <reloads>\n1 master 0\n" });
            assert.equal(parts[1].text, `${STATE(2, 0)}2.6.12\n`);
            assert.deepEqual(parts.slice(2), [{ rc: 0, text: "global\n" }, { text: "" }]);
            assert.deepEqual(master.requests, ["show proc\nquit\n"]);
            assert.deepEqual(admin.requests, ["show servers state; show version\nquit\n"]);
        } finally {
            master.close();
            admin.close();
            removeTmp(dir);
        }
    });

    const spec = (dir: string, over: Partial<Parameters<typeof flipCmd>[0]> = {}) => ({
        target: TARGET,
        instance: "prod-haproxy",
        configPath: path.join(dir, "cfg"),
        candidate: "new\n",
        mapFile: path.join(dir, "map"),
        map: "blue r2\n",
        live: "old\n",
        bak: true,
        adminSocket: path.join(dir, "a.sock"),
        waitFor: ["be_web/blue"],
        settleMs: 300,
        commands: ["set map m blue r2", "set server be_web/blue weight 256"],
        ...over,
    });

    it("flipCmd: one exec of the constant flip script; the candidate and the map on stdin, the rest arguments", () => {
        const cmd = flipCmd(spec("/etc/haproxy"));
        assert.deepEqual(cmd.argv, [
            "incus",
            "exec",
            "prod:prod-haproxy",
            "--",
            "sh",
            "-c",
            FLIP_SCRIPT,
            "sh",
            "/etc/haproxy/cfg",
            `${process.pid}`,
            "4",
            "/etc/haproxy/map",
            "8",
            sha256("old\n"),
            "bak",
            "/etc/haproxy/a.sock",
            "3",
            "be_web/blue",
            "set map m blue r2; set server be_web/blue weight 256",
            "-",
            "-",
        ]);
        assert.equal(cmd.input, "new\nblue r2\n");
        const reload = flipCmd(spec("/e", { map: undefined, live: undefined, bak: false, waitFor: [], commands: [] }));
        assert.deepEqual(reload.argv.slice(12), ["-", "-", "-", "/e/a.sock", "0", "", "", "-", "-"]);
        const guarded = flipCmd(spec("/e", { guard: { servers: GUARD, mapHad: "blue r1\n" } }));
        assert.deepEqual(guarded.argv.slice(19), ["be_web/blue:0:1 be_web/green:0:0", sha256("blue r1\n")]);
        assert.equal(flipCmd(spec("/e", { guard: { servers: GUARD } })).argv[20], "-", "no map: it must be absent");
    });

    describe("the flip script", () => {
        let dir: string;
        let env: NodeJS.ProcessEnv;
        beforeEach(() => {
            dir = makeTmp();
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            // A stand-in haproxy -c: fails on "bad".
            fs.writeFileSync(path.join(bin, "haproxy"), '#!/bin/sh\ngrep -q bad "$3" && { echo "[ALERT] bad keyword"; exit 1; }; echo valid\n', {
                mode: 0o755,
            });
            env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
            fs.writeFileSync(path.join(dir, "cfg"), "old\n");
        });
        afterEach(() => removeTmp(dir));
        const run = (over: Partial<Parameters<typeof flipCmd>[0]> = {}) => {
            const argv = flipCmd(spec(dir, over));
            return sh(FLIP_SCRIPT, argv.argv.slice(8), argv.input ?? "", env);
        };
        const files = () => fs.readdirSync(dir).sort();

        it("writes the map, validates, waits for HAProxy's checks, keeps .bak, swaps, then sends the commands", async () => {
            let n = 0;
            const admin = await fakeSocket(path.join(dir, "a.sock"), (req) =>
                req.startsWith("show servers state\n") ? STATE(++n < 2 ? 0 : 2, 0) : "\n\n2.6.12\n",
            );
            try {
                const r = await run();
                assert.equal(r.code, FLIP.ok, r.stdout);
                assert.deepEqual(
                    [
                        fs.readFileSync(path.join(dir, "cfg"), "utf8"),
                        fs.readFileSync(path.join(dir, "cfg.bak"), "utf8"),
                        fs.readFileSync(path.join(dir, "map"), "utf8"),
                    ],
                    ["new\n", "old\n", "blue r2\n"],
                );
                assert.equal(fs.statSync(path.join(dir, "cfg.bak")).mode & 0o777, 0o600);
                assert.deepEqual(admin.requests, [
                    "show servers state\nquit\n",
                    "show servers state\nquit\n",
                    "set map m blue r2; set server be_web/blue weight 256; show version\nquit\n",
                ]);
                assert.match(r.stdout, new RegExp(`2\\.6\\.12\\n+${EXEC_SENTINEL} 0\\n$`));
                assert.deepEqual(files(), ["a.sock", "bin", "cfg", "cfg.bak", "map"], "no candidate or temp file left");
            } finally {
                admin.close();
            }
        });

        it("HAProxy rejects the candidate: exit 103 with its reason, nothing swapped or sent", async () => {
            const admin = await fakeSocket(path.join(dir, "a.sock"), () => STATE(2, 0));
            try {
                const r = await run({ candidate: "bad\n" });
                assert.equal(r.code, FLIP.rejected);
                assert.match(r.stdout, /\[ALERT\] bad keyword/);
                assert.equal(fs.readFileSync(path.join(dir, "cfg"), "utf8"), "old\n");
                assert.deepEqual(admin.requests, []);
                assert.ok(!files().includes("cfg.new") && !files().includes("cfg.bak"));
            } finally {
                admin.close();
            }
        });

        it("a target server HAProxy does not see running and ready in time: exit 104 naming it, nothing swapped", async () => {
            const admin = await fakeSocket(path.join(dir, "a.sock"), () => STATE(2, 8));
            try {
                const r = await run();
                assert.equal(r.code, FLIP.notUp);
                assert.match(r.stdout, /not running and ready: be_web\/blue/);
                assert.equal(admin.requests.length, 3, "settleMs 300: 3 tries");
                assert.equal(fs.readFileSync(path.join(dir, "cfg"), "utf8"), "old\n");
                assert.ok(!files().includes("cfg.new"));
            } finally {
                admin.close();
            }
        });

        it("the live config changed since it was read: exit 105, nothing swapped", async () => {
            fs.writeFileSync(path.join(dir, "cfg"), "someone else\n");
            const r = await run({ waitFor: [], commands: [] });
            assert.equal(r.code, FLIP.changed);
            assert.equal(fs.readFileSync(path.join(dir, "cfg"), "utf8"), "someone else\n");
            assert.ok(!files().includes("cfg.new"));
        });

        it("the runtime API refuses a command: exit 107 once the candidate is live (the caller restores .bak)", async () => {
            const admin = await fakeSocket(path.join(dir, "a.sock"), (req) => (req.startsWith("show servers") ? STATE(2, 0) : "No such server.\n\n2.6.12\n"));
            try {
                const r = await run();
                assert.equal(r.code, FLIP.runtime);
                assert.match(r.stdout, /No such server/);
                assert.equal(admin.requests.filter((q) => q.startsWith("set map")).length, 3, "tried 3 times");
                assert.equal(fs.readFileSync(path.join(dir, "cfg"), "utf8"), "new\n");
            } finally {
                admin.close();
            }
        });

        it("a short stdin: exit 101 before anything else", async () => {
            const argv = flipCmd(spec(dir));
            const r = await sh(FLIP_SCRIPT, argv.argv.slice(8), "ne", env);
            assert.equal(r.code, FLIP.candidateWrite);
            assert.equal(fs.readFileSync(path.join(dir, "cfg"), "utf8"), "old\n");
            assert.deepEqual(files(), ["bin", "cfg"]);
        });

        describe("guarded (decided on the state the last run left, with no read before it)", () => {
            const guarded = { guard: { servers: GUARD, mapHad: "blue r1\n" } };
            beforeEach(() => fs.writeFileSync(path.join(dir, "map"), "blue r1\n"));

            it("the servers, the config and the map as expected: flips as unguarded, the check first", async () => {
                let n = 0;
                const admin = await fakeSocket(path.join(dir, "a.sock"), (req) =>
                    req.startsWith("show servers state\n") ? STATE(++n < 3 ? 0 : 2, 0) : "\n\n2.6.12\n",
                );
                try {
                    const r = await run(guarded);
                    assert.equal(r.code, FLIP.ok, r.stdout);
                    assert.equal(fs.readFileSync(path.join(dir, "cfg"), "utf8"), "new\n");
                    assert.equal(fs.readFileSync(path.join(dir, "map"), "utf8"), "blue r2\n");
                    assert.equal(admin.requests.length, 4, "the guard's read, two waits, the commands");
                } finally {
                    admin.close();
                }
            });

            for (const [what, state, prepare] of [
                ["a server in drain", STATE(2, 8), () => undefined],
                [
                    "the other color has the weight",
                    STATE(2, 0).replace("blue 127.0.0.1 2 0 1", "blue 127.0.0.1 2 0 0").replace("green 127.0.0.1 2 0 0", "green 127.0.0.1 2 0 1"),
                    () => undefined,
                ],
                ["a server more", `${STATE(2, 0)}3 be_web 3 blue-2 127.0.0.1 2 0 0 1 5 6 0 0 0 0\n`, () => undefined],
                ["a server less", STATE(2, 0).split("\n").slice(0, 3).join("\n"), () => undefined],
                ["no answer", "", () => undefined],
                ["the config changed", STATE(2, 0), () => fs.writeFileSync(path.join(dir, "cfg"), "someone else\n")],
                ["the map changed", STATE(2, 0), () => fs.writeFileSync(path.join(dir, "map"), "blue r0\n")],
                ["the map is gone", STATE(2, 0), () => fs.rmSync(path.join(dir, "map"))],
            ] as const) {
                it(`${what}: exit 108 (differs) before anything is written or sent`, async () => {
                    prepare();
                    const cfg = fs.readFileSync(path.join(dir, "cfg"), "utf8");
                    const map = fs.existsSync(path.join(dir, "map")) ? fs.readFileSync(path.join(dir, "map"), "utf8") : undefined;
                    const admin = await fakeSocket(path.join(dir, "a.sock"), () => state);
                    try {
                        const r = await run(guarded);
                        assert.equal(r.code, FLIP.differs, r.stdout);
                        assert.deepEqual(admin.requests, ["show servers state\nquit\n"], "one read, no command");
                        assert.equal(fs.readFileSync(path.join(dir, "cfg"), "utf8"), cfg);
                        assert.equal(fs.existsSync(path.join(dir, "map")) ? fs.readFileSync(path.join(dir, "map"), "utf8") : undefined, map);
                        assert.ok(!files().includes("cfg.new") && !files().includes("cfg.bak"), files().join(" "));
                    } finally {
                        admin.close();
                    }
                });
            }
        });

        it("a reload's flip (no wait, no commands, no live config) only validates and swaps", async () => {
            fs.rmSync(path.join(dir, "cfg"));
            const r = await run({ live: undefined, bak: false, waitFor: [], commands: [], map: undefined });
            assert.equal(r.code, FLIP.ok, r.stdout);
            assert.deepEqual(files(), ["bin", "cfg"]);
        });
    });

    it("flip: the exit code is the verdict; the output, when Incus kept it", async () => {
        stub = stubRunner(() => fail(FLIP.rejected, "", `[ALERT] x\n\n${EXEC_SENTINEL} 103\n`));
        assert.deepEqual(await flip(spec("/e")), { code: 103, output: "[ALERT] x", stderr: "" });
        stub.restore();
        stub = stubRunner(() => fail(FLIP.rejected, ""));
        assert.deepEqual(await flip(spec("/e")), { code: 103, stderr: "" });
        assert.equal(stub.calls.length, 1, "never asked again");
    });
});
