import assert from "node:assert/strict";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { Cmd, CmdResult } from "../../components/exec";
import { HaproxyHost } from "../../components/haproxyHost";
import {
    ServerState,
    adminCommands,
    converse,
    parseServersState,
    parseShowProc,
    reloadAndWait,
    servedColor,
    serversState,
    setWeightCommand,
    showProc,
    socketCmd,
} from "../../components/runtimeApi";
import { CliSocket, haproxyCliSocket } from "../helpers/haproxySocket";
import { RunnerStub, fail, ok, stubRunner } from "../helpers/runnerStub";

const HOST: HaproxyHost = { placement: "host" };
const INST: HaproxyHost = { placement: "incus", instance: "prod-haproxy", remote: "prod" };
const ADMIN = "/var/lib/bluegreen/dev/admin.sock";
const MASTER = "/var/lib/bluegreen/dev/master.sock";

// Real HAProxy 2.6.12 output.
const SHOW_PROC = `#<PID>          <type>          <reloads>       <uptime>        <version>      
12595           master          2 [failed: 0]   0d00h00m07s     2.6.12-1+deb12u4
# workers
12680           worker          0               0d00h00m01s     2.6.12-1+deb12u4
# old workers
12596           worker          1               0d00h00m06s     2.6.12-1+deb12u4
# programs

`;

const SHOW_PROC_FAILED = `#<PID>          <type>          <reloads>       <uptime>        <version>      
12595           master          1 [failed: 1]   0d00h00m06s     2.6.12-1+deb12u4
# workers
12596           worker          1               0d00h00m06s     2.6.12-1+deb12u4
# programs

`;

const SERVERS_STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
4 be_backend 1 blue 127.0.0.1 2 0 100 100 7 8 2 0 6 0 0 0 - 18110 - 0 0 - - 0
4 be_backend 2 green 127.0.0.1 2 0 0 0 7 8 2 0 6 0 0 0 - 18111 - 0 0 - - 0
`;

/** `show proc` output for a master with `reloads`, `failed` and current workers. */
function showProcText(reloads: number, failed: number, workers: [number, number][]): string {
    return [
        "#<PID>          <type>          <reloads>       <uptime>        <version>      ",
        `100             master          ${reloads} [failed: ${failed}]   0d00h01m00s     2.6.12-1+deb12u4`,
        "# workers",
        ...workers.map(([pid, r]) => `${pid}             worker          ${r}               0d00h00m01s     2.6.12-1+deb12u4`),
        "# programs",
        "",
    ].join("\n");
}

const st = (backend: string, server: string, weight: number, opState = 2): ServerState => ({ backend, server, opState, weight });

describe("runtimeApi", () => {
    describe("socketCmd", () => {
        it("sends the commands joined by `; ` on one line to socat", () => {
            assert.deepEqual(socketCmd(HOST, ADMIN, ["set server be_web/blue weight 100", "set server be_web/green weight 0"]), {
                argv: ["socat", "-t", "5", "stdio", `unix-connect:${ADMIN}`],
                input: "set server be_web/blue weight 100; set server be_web/green weight 0\n",
                timeoutMs: 10_000,
            });
        });

        it("runs socat inside the instance for incus placement, with a custom timeout", () => {
            assert.deepEqual(socketCmd(INST, "/run/haproxy/master.sock", ["show proc"], 5000), {
                argv: ["incus", "exec", "prod:prod-haproxy", "--", "socat", "-t", "5", "stdio", "unix-connect:/run/haproxy/master.sock"],
                input: "show proc\n",
                timeoutMs: 5000,
            });
        });
    });

    it("setWeightCommand", () => {
        assert.equal(setWeightCommand("be_web", "green", 100), "set server be_web/green weight 100");
        assert.equal(setWeightCommand("be_api", "blue", 0), "set server be_api/blue weight 0");
    });

    describe("parseShowProc", () => {
        it("reads the master and only the current workers", () => {
            assert.deepEqual(parseShowProc(SHOW_PROC), { masterPid: 12595, reloads: 2, failedReloads: 0, workers: [{ pid: 12680, reloads: 0 }] });
        });

        it("reads a failed reload: the old worker stays current", () => {
            assert.deepEqual(parseShowProc(SHOW_PROC_FAILED), { masterPid: 12595, reloads: 1, failedReloads: 1, workers: [{ pid: 12596, reloads: 1 }] });
        });

        it("gives undefined without a master line", () => {
            assert.equal(parseShowProc(""), undefined);
            assert.equal(parseShowProc("Unknown command.\n"), undefined);
            assert.equal(parseShowProc("# workers\n12680           worker          0               0d00h00m01s\n"), undefined);
        });
    });

    describe("parseServersState", () => {
        it("reads backend, server, op state and weight, skipping the version and header lines", () => {
            assert.deepEqual(parseServersState(SERVERS_STATE), [
                { backend: "be_backend", server: "blue", opState: 2, weight: 100 },
                { backend: "be_backend", server: "green", opState: 2, weight: 0 },
            ]);
        });

        it("gives an empty list for empty or unrelated output", () => {
            assert.deepEqual(parseServersState(""), []);
            assert.deepEqual(parseServersState("1\n# be_id be_name\n"), []);
            assert.deepEqual(parseServersState("No such backend.\n"), []);
        });
    });

    describe("servedColor", () => {
        const backends = ["be_backend", "be_web"];

        it("names the one color that has weight everywhere", () => {
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_backend", "green", 0), st("be_web", "blue", 100), st("be_web", "green", 0)], backends), "blue");
            assert.equal(servedColor([st("be_backend", "blue", 0), st("be_backend", "green", 100), st("be_web", "blue", 0), st("be_web", "green", 1)], backends), "green");
        });

        it("gives undefined when no server has weight", () => {
            assert.equal(servedColor([st("be_backend", "blue", 0), st("be_backend", "green", 0), st("be_web", "blue", 0)], backends), undefined);
            assert.equal(servedColor([], backends), undefined);
        });

        it("is mixed when backends disagree", () => {
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_web", "green", 100)], backends), "mixed");
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_web", "blue", 0)], backends), "mixed");
            // Whatever the order of the backends, a half-zeroed HAProxy is not "blue".
            assert.equal(servedColor([st("be_backend", "blue", 0), st("be_web", "blue", 100)], backends), "mixed");
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_web", "blue", 0)], [...backends].reverse()), "mixed");
        });

        it("is mixed when both colors have weight in one backend", () => {
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_backend", "green", 100), st("be_web", "blue", 100)], backends), "mixed");
        });

        it("ignores backends it was not asked about and servers that are not colors", () => {
            assert.equal(servedColor([st("be_backend", "blue", 100), st("be_web", "blue", 100), st("be_other", "green", 100), st("be_web", "backup", 100)], backends), "blue");
        });
    });

    describe("with a stubbed runner", () => {
        let stub: RunnerStub | undefined;
        afterEach(() => stub?.restore());

        it("adminCommands returns the output of commands that all succeeded", async () => {
            stub = stubRunner(() => ok("\n\n"));
            assert.equal(await adminCommands(INST, ADMIN, ["set server be_web/blue weight 100", "set server be_web/green weight 0"]), "\n\n");
            assert.deepEqual(stub.calls, [
                {
                    argv: ["incus", "exec", "prod:prod-haproxy", "--", "socat", "-t", "5", "stdio", `unix-connect:${ADMIN}`],
                    input: "set server be_web/blue weight 100; set server be_web/green weight 0\n",
                    timeoutMs: 10_000,
                },
            ]);
        });

        it("adminCommands throws on an error line in the answer", async () => {
            for (const line of ["No such server.", "Unknown command. Please enter one of the following commands only :", "Require 'backend/server'.", "Backend is not found."]) {
                stub?.restore();
                stub = stubRunner(() => ok(`\n${line}\n\n`));
                await assert.rejects(adminCommands(INST, ADMIN, ["set server be_web/purple weight 0"]), { message: `HAProxy runtime API refused: ${line}` });
            }
        });

        it("adminCommands throws with the argv when socat fails", async () => {
            stub = stubRunner(() => fail(1, "socat[1] E connect(5, AF=1 \"/x.sock\", 9): No such file or directory"));
            await assert.rejects(adminCommands(INST, "/x.sock", ["show servers state"]), {
                message:
                    "HAProxy runtime API on instance prod:prod-haproxy did not answer: " +
                    '`incus exec prod:prod-haproxy -- socat -t 5 stdio unix-connect:/x.sock` exited 1: socat[1] E connect(5, AF=1 "/x.sock", 9): No such file or directory',
            });
        });

        it("serversState parses the answer to `show servers state`", async () => {
            stub = stubRunner(() => ok(SERVERS_STATE));
            assert.deepEqual(await serversState(INST, ADMIN), [
                { backend: "be_backend", server: "blue", opState: 2, weight: 100 },
                { backend: "be_backend", server: "green", opState: 2, weight: 0 },
            ]);
            assert.equal(stub.calls[0].input, "show servers state\n");
        });

        it("showProc parses the master CLI, or gives undefined when it does not answer", async () => {
            stub = stubRunner(() => ok(SHOW_PROC));
            assert.equal((await showProc(INST, MASTER))?.masterPid, 12595);
            assert.deepEqual(stub.calls[0], { argv: ["incus", "exec", "prod:prod-haproxy", "--", "socat", "-t", "5", "stdio", `unix-connect:${MASTER}`], input: "show proc\n", timeoutMs: 5000 });
            stub.restore();
            stub = stubRunner(() => fail(1, "No such file or directory"));
            assert.equal(await showProc(INST, MASTER), undefined);
        });

        describe("reloadAndWait", () => {
            /** Answers `show proc` from `procs` in turn (the last one repeats) and `reload` with `reload`. */
            function master(procs: (CmdResult | string)[], reload: CmdResult = ok("")): RunnerStub {
                let i = 0;
                return stubRunner((cmd: Cmd) => {
                    if (cmd.input === "reload\n") return reload;
                    assert.equal(cmd.input, "show proc\n");
                    const p = procs[Math.min(i++, procs.length - 1)];
                    return typeof p === "string" ? ok(p) : p;
                });
            }

            it("succeeds once the reload count rises and a fresh worker runs", async () => {
                stub = master([
                    showProcText(2, 0, [[200, 0]]),
                    fail(1, "connection refused"), // the master re-executes
                    showProcText(2, 0, [[200, 0]]),
                    showProcText(3, 0, [[200, 1]]), // reloaded, new worker not yet up
                    showProcText(3, 0, [[300, 0]]),
                ]);
                assert.deepEqual(await reloadAndWait(INST, MASTER, 5000), { masterPid: 100, reloads: 3, failedReloads: 0, workers: [{ pid: 300, reloads: 0 }] });
                assert.deepEqual(
                    stub.calls.map((c) => c.input),
                    ["show proc\n", "reload\n", "show proc\n", "show proc\n", "show proc\n", "show proc\n"],
                );
                assert.deepEqual(stub.calls[1].argv, ["incus", "exec", "prod:prod-haproxy", "--", "socat", "-t", "5", "stdio", `unix-connect:${MASTER}`]);
            });

            it("fails, naming the failed reloads, when the new config did not load", async () => {
                stub = master([showProcText(0, 0, [[200, 0]]), SHOW_PROC_FAILED]);
                await assert.rejects(reloadAndWait(INST, MASTER, 5000), {
                    message: "HAProxy could not load the new config (failed reloads: 1); the previous worker kept serving",
                });
            });

            it("throws before reloading when the master does not answer", async () => {
                stub = master([fail(1, "No such file or directory")]);
                await assert.rejects(reloadAndWait(INST, "/run/haproxy/master.sock", 5000), {
                    message: "HAProxy's master CLI (/run/haproxy/master.sock) on instance prod:prod-haproxy does not answer; is haproxy running?",
                });
                assert.equal(stub.calls.length, 1);
            });

            it("throws when the reload command fails", async () => {
                stub = master([showProcText(2, 0, [[200, 0]])], fail(1, "Broken pipe"));
                await assert.rejects(reloadAndWait(INST, MASTER, 5000), (e: Error) => {
                    assert.match(e.message, /^cannot ask HAProxy to reload: `incus exec prod:prod-haproxy -- socat -t 5 stdio unix-connect:\/var\/lib\/bluegreen\/dev\/master\.sock` exited 1: Broken pipe$/);
                    return true;
                });
            });

            it("gives up after timeoutMs when the reload never shows", async () => {
                stub = master([showProcText(2, 0, [[200, 0]])]);
                await assert.rejects(reloadAndWait(INST, MASTER, 200), { message: "HAProxy did not finish reloading within 200 ms" });
            });
        });
    });
});

describe("runtimeApi on this host: a direct unix-socket conversation", () => {
    let dir: string;
    let server: net.Server | undefined;
    let fake: CliSocket | undefined;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "bg-sock-"));
    });
    afterEach(async () => {
        await fake?.close();
        await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
        server = fake = undefined;
        fs.rmSync(dir, { recursive: true, force: true });
    });

    async function cli(answer: (line: string) => string): Promise<string> {
        const sock = path.join(dir, "admin.sock");
        fake = await haproxyCliSocket(sock, answer);
        return sock;
    }

    it("sends the commands on one line and returns the answer, without spawning a process", async () => {
        const sock = await cli(() => "\n\n");
        const stub = stubRunner(() => {
            throw new Error("no process expected");
        });
        try {
            assert.equal(await adminCommands(HOST, sock, ["set server be_web/blue weight 100", "set server be_web/green weight 0"]), "\n\n");
            assert.deepEqual(stub.calls, []);
        } finally {
            stub.restore();
        }
        assert.deepEqual(fake!.received, ["set server be_web/blue weight 100; set server be_web/green weight 0\n"]);
    });

    it("refuses an error line, parses show proc, and reports a missing socket", async () => {
        const sock = await cli((line) => (line === "show proc" ? SHOW_PROC : "No such server.\n"));
        await assert.rejects(adminCommands(HOST, sock, ["set server be_web/purple weight 0"]), { message: "HAProxy runtime API refused: No such server." });
        assert.equal((await showProc(HOST, sock))?.masterPid, 12595);
        assert.equal(await showProc(HOST, path.join(dir, "absent.sock")), undefined);
        await assert.rejects(adminCommands(HOST, path.join(dir, "absent.sock"), ["show info"]), (e: Error) => {
            assert.match(e.message, /^HAProxy runtime API on this host did not answer: .*absent\.sock: connect ENOENT/);
            assert.doesNotMatch(e.message, /socat/, "no process ran, so none is named");
            return true;
        });
        const r = await converse(HOST, path.join(dir, "absent.sock"), ["show info"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /absent\.sock: connect ENOENT/);
    });

    it("times out on a socket that never answers", async () => {
        const sock = path.join(dir, "mute.sock");
        const open: net.Socket[] = [];
        server = net.createServer({ allowHalfOpen: true }, (c) => open.push(c));
        await new Promise<void>((r) => server!.listen(sock, r));
        const r = await converse(HOST, sock, ["show info"], 200);
        assert.deepEqual({ code: r.code, timedOut: r.timedOut }, { code: 1, timedOut: true });
        for (const c of open) c.destroy();
    });
});

