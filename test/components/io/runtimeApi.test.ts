import assert from "node:assert/strict";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { adminCommands, converse, parseServersState, parseShowProc, reloadAndWait, serversState, showProc } from "../../../components/io/runtimeApi";
import { CliSocket, haproxyCliSocket } from "../../helpers/haproxySocket";
import { stubRunner } from "../../helpers/runnerStub";

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

describe("runtimeApi", () => {
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
        it("reads backend, server, op state, admin state and weight, skipping the version and header lines", () => {
            assert.deepEqual(parseServersState(SERVERS_STATE), [
                { backend: "be_backend", server: "blue", opState: 2, adminState: 0, weight: 100 },
                { backend: "be_backend", server: "green", opState: 2, adminState: 0, weight: 0 },
            ]);
        });

        it("gives an empty list for empty or unrelated output", () => {
            assert.deepEqual(parseServersState(""), []);
            assert.deepEqual(parseServersState("1\n# be_id be_name\n"), []);
            assert.deepEqual(parseServersState("No such backend.\n"), []);
        });
    });
});

describe("runtimeApi over a unix socket on this host", () => {
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

    async function cli(answer: (command: string) => string): Promise<string> {
        const sock = path.join(dir, "admin.sock");
        fake = await haproxyCliSocket(sock, answer);
        return sock;
    }

    /** A socket that accepts and closes at once, as an Incus proxy device does while HAProxy is down. Counts connections. */
    let hungUp = 0;
    async function hangUp(): Promise<string> {
        const sock = path.join(dir, "proxy.sock");
        hungUp = 0;
        server = net.createServer((c) => {
            hungUp++;
            c.destroy();
        });
        await new Promise<void>((r) => server!.listen(sock, r));
        return sock;
    }

    it("adminCommands sends the commands on one line, ended by `show version`, and returns their answers, without spawning a process", async () => {
        const sock = await cli(() => "");
        const stub = stubRunner(() => {
            throw new Error("no process expected");
        });
        try {
            assert.equal(await adminCommands(sock, ["set server be_web/blue weight 100", "set server be_web/green weight 0"]), "\n");
            assert.deepEqual(stub.calls, []);
        } finally {
            stub.restore();
        }
        assert.deepEqual(fake!.received, ["set server be_web/blue weight 100; set server be_web/green weight 0; show version\nquit\n"]);
    });

    it("adminCommands throws on an error line in the answer", async () => {
        let line = "";
        const sock = await cli(() => `${line}\n`);
        for (line of [
            "No such server.",
            "Unknown command. Please enter one of the following commands only :",
            "Require 'backend/server'.",
            "Backend is not found.",
        ]) {
            await assert.rejects(adminCommands(sock, ["set server be_web/purple weight 0"]), { message: `HAProxy runtime API refused: ${line}` });
        }
    });

    it("adminCommands refuses a missing socket, and an empty answer (a proxy device while HAProxy is down), as no answer", async () => {
        const absent = path.join(dir, "absent.sock");
        await assert.rejects(adminCommands(absent, ["show info"]), (e: Error) => {
            assert.match(
                e.message,
                /^HAProxy's runtime API \(.*absent\.sock\) did not answer: connect ENOENT .*absent\.sock; is haproxy running\? `pulumi up` starts it$/,
            );
            return true;
        });
        const sock = await hangUp();
        // Depending on timing the hang-up shows as an empty answer or as EPIPE.
        await assert.rejects(adminCommands(sock, ["set server be_web/blue weight 100"]), (e: Error) => {
            assert.match(e.message, /^HAProxy's runtime API \(.*proxy\.sock\) did not answer(: write EPIPE)?; is haproxy running\? `pulumi up` starts it$/);
            return true;
        });
        await assert.rejects(serversState(sock), /did not answer/);
    });

    it("asks 3 times in all while the answer is missing (HAProxy takes 10 CLI connections at a time), but once when nothing listens", async () => {
        const sock = await hangUp();
        await assert.rejects(adminCommands(sock, ["show servers state"]), /did not answer/);
        assert.equal(hungUp, 3);
        hungUp = 0;
        assert.equal(await showProc(sock), undefined);
        assert.equal(hungUp, 3);

        let calls = 0;
        const flaky = path.join(dir, "flaky.sock");
        server?.close();
        server = net.createServer((c) => {
            if (++calls === 1) c.destroy();
            else c.once("data", () => c.end(`${SERVERS_STATE}\n2.6.12\n\n`));
        });
        await new Promise<void>((r) => server!.listen(flaky, r));
        assert.equal((await serversState(flaky)).length, 2);
        assert.equal(calls, 2);

        const t0 = Date.now();
        await assert.rejects(adminCommands(path.join(dir, "absent.sock"), ["show info"]), /ENOENT/);
        assert.ok(Date.now() - t0 < 50, "no retry against a socket that does not exist");
    });

    it("serversState parses the answer to `show servers state`", async () => {
        const sock = await cli((c) => (c === "show servers state" ? SERVERS_STATE : "Unknown command.\n"));
        assert.deepEqual(await serversState(sock), [
            { backend: "be_backend", server: "blue", opState: 2, adminState: 0, weight: 100 },
            { backend: "be_backend", server: "green", opState: 2, adminState: 0, weight: 0 },
        ]);
        assert.deepEqual(fake!.received, ["show servers state; show version\nquit\n"]);
    });

    it("showProc parses the master CLI, or gives undefined when nothing answers", async () => {
        const sock = await cli((c) => (c === "show proc" ? SHOW_PROC : "Unknown command.\n"));
        assert.equal((await showProc(sock))?.masterPid, 12595);
        assert.deepEqual(fake!.received, ["show proc\nquit\n"]);
        assert.equal(await showProc(path.join(dir, "absent.sock")), undefined);
        assert.equal(await showProc(await hangUp()), undefined);
    });

    it("converse reports a missing socket with its path", async () => {
        const r = await converse(path.join(dir, "absent.sock"), ["show info"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /^connect ENOENT .*absent\.sock$/);
    });

    it("converse times out on a socket that never answers", async () => {
        const sock = path.join(dir, "mute.sock");
        const open: net.Socket[] = [];
        server = net.createServer({ allowHalfOpen: true }, (c) => open.push(c));
        await new Promise<void>((r) => server!.listen(sock, r));
        const r = await converse(sock, ["show info"], 200);
        assert.deepEqual({ code: r.code, timedOut: r.timedOut }, { code: 1, timedOut: true });
        for (const c of open) c.destroy();
    });

    describe("reloadAndWait", () => {
        /** A master answering `show proc` from `procs` in turn (the last one repeats); "" is a master re-executing. */
        async function master(procs: string[]): Promise<string> {
            let i = 0;
            return cli((c) => {
                if (c === "reload") return "";
                assert.equal(c, "show proc");
                return procs[Math.min(i++, procs.length - 1)];
            });
        }

        it("succeeds once the reload count rises and a fresh worker runs", async () => {
            const sock = await master([
                showProcText(2, 0, [[200, 0]]),
                "", // the master re-executes
                showProcText(2, 0, [[200, 0]]),
                showProcText(3, 0, [[200, 1]]), // reloaded, new worker not yet up
                showProcText(3, 0, [[300, 0]]),
            ]);
            assert.deepEqual(await reloadAndWait(sock, 5000), { masterPid: 100, reloads: 3, failedReloads: 0, workers: [{ pid: 300, reloads: 0 }] });
            assert.deepEqual(
                fake!.received,
                ["show proc", "reload", "show proc", "show proc", "show proc", "show proc"].map((c) => `${c}\nquit\n`),
            );
        });

        it("fails, naming the failed reloads, when the new config did not load", async () => {
            const sock = await master([showProcText(0, 0, [[200, 0]]), SHOW_PROC_FAILED]);
            await assert.rejects(reloadAndWait(sock, 5000), {
                message: "HAProxy could not load the new config (failed reloads: 1); the previous worker kept serving",
            });
        });

        it("throws before reloading when the master does not answer", async () => {
            const sock = await hangUp();
            await assert.rejects(reloadAndWait(sock, 5000), {
                message: `HAProxy's master CLI (${sock}) does not answer; is haproxy running? \`pulumi up\` starts it`,
            });
        });

        it("gives up after timeoutMs when the reload never shows", async () => {
            const sock = await master([showProcText(2, 0, [[200, 0]])]);
            await assert.rejects(reloadAndWait(sock, 200), { message: "HAProxy did not finish reloading within 200 ms" });
        });
    });
});
