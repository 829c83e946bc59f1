import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as dgram from "dgram";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseConfig } from "../../../../components/model/config";
import { DEFAULT_KEEP, DEFAULT_MAX_BYTES, accessLogLines, lineTime, mergeByTime } from "../../../../components/model/edge/accessLog";
import { haproxyInputs, switchInputs } from "../../../../components/plan";
import {
    INSTANCE_RECEIVER,
    INSTANCE_SUPERVISOR_SCRIPT,
    RECEIVER_SCRIPT,
    receiverArgv,
    receiverConf,
    receiverPidFile,
    stopReceiverOnHost,
    supervisorCmd,
} from "../../../../components/release/edge/accessLog";
import { INSTANCE_START_SCRIPT } from "../../../../components/release/traffic/haproxy";
import { minimalRaw, stackConfig } from "../../../helpers/stackConfig";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

describe("model/edge/accessLog", () => {
    it("bluegreen:accessLog: off when unset; defaults; the port is claimed like the others", () => {
        assert.equal(switchInputs(stackConfig()).accessLogPort, undefined);
        assert.equal(haproxyInputs(stackConfig()).accessLog, undefined);
        const c = stackConfig({ accessLog: {} });
        assert.equal(switchInputs(c).accessLogPort, 18102);
        assert.deepEqual(haproxyInputs(c).accessLog, {
            port: 18102,
            file: `${haproxyInputs(c).layout.stateDir}/access.log`,
            maxBytes: DEFAULT_MAX_BYTES,
            keep: DEFAULT_KEEP,
        });
        try {
            parseConfig({ ...minimalRaw(), accessLog: { port: 18101 } }, "dev");
            assert.fail("accepted");
        } catch (e) {
            assert.ok(e instanceof ConfigError);
            assert.match(e.problems.join("\n"), /bluegreen:accessLog\.port: port 18101 is already used by bluegreen:haproxy\.exporterPort/);
        }
    });

    it("fe_main logs in httplog format to the receiver", () => {
        assert.deepEqual(accessLogLines(18102), ["log 127.0.0.1:18102 len 8192 format raw local0 info", "option httplog"]);
    });

    it("mergeByTime interleaves by each line's time; a line with none stays after the one before it", () => {
        const app = ["2026-12-07T12:00:01.000Z GET /x 500", "    at stack frame", "2026-12-07T12:00:03.000Z GET /y 404"];
        const proxy = ["2026-12-07T12:00:02.000Z 127.0.0.1 ... GET /x", "2026-12-07T12:00:03.000Z 127.0.0.1 ... GET /y"];
        assert.deepEqual(
            mergeByTime([
                { prefix: "[app] ", lines: app },
                { prefix: "[haproxy] ", lines: proxy },
            ]),
            [
                "[app] 2026-12-07T12:00:01.000Z GET /x 500",
                "[app]     at stack frame",
                "[haproxy] 2026-12-07T12:00:02.000Z 127.0.0.1 ... GET /x",
                "[app] 2026-12-07T12:00:03.000Z GET /y 404",
                "[haproxy] 2026-12-07T12:00:03.000Z 127.0.0.1 ... GET /y",
            ],
        );
        assert.equal(lineTime("listening on 1"), undefined);
        assert.equal(lineTime("2026-12-07T12:00:01Z x"), Date.parse("2026-12-07T12:00:01Z"));
    });

    it("the receiver stamps each datagram, rotates by size, keeps `keep` files, and a second copy exits", async function () {
        this.timeout(20_000);
        const dir = makeTmp("alog-");
        const file = path.join(dir, "access.log");
        const port = 20000 + Math.floor(Math.random() * 20000);
        const argv = receiverArgv(process.execPath, { port, file, maxBytes: 4096, keep: 2 });
        assert.deepEqual(argv.slice(1, 3), ["-e", RECEIVER_SCRIPT]);
        const { spawn } = await import("child_process");
        const child = spawn(argv[0], argv.slice(1), { stdio: "ignore" });
        try {
            await new Promise((r) => setTimeout(r, 700));
            const second = spawnSync(argv[0], argv.slice(1), { timeout: 5000 });
            assert.equal(second.status, 0, "a second receiver on the taken port exits quietly");
            const sock = dgram.createSocket("udp4");
            const line = "x".repeat(1000);
            for (let i = 0; i < 13; i++) await new Promise<void>((r) => sock.send(`${i} ${line}\n`, port, "127.0.0.1", () => r()));
            sock.close();
            await new Promise((r) => setTimeout(r, 500));
            assert.ok(fs.existsSync(`${file}.1`) && fs.existsSync(`${file}.2`) && !fs.existsSync(`${file}.3`), fs.readdirSync(dir).join(","));
            const last = fs.readFileSync(file, "utf8").trim().split("\n");
            assert.match(last.at(-1)!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 12 x+$/);
            assert.ok(fs.statSync(`${file}.1`).size >= 4096);
            assert.equal(fs.statSync(file).mode & 0o777, 0o600);
            // A destroy stops the receiver its pid file names.
            fs.writeFileSync(receiverPidFile({ file }), `${child.pid}\n`);
            const exited = new Promise((r) => child.once("exit", r));
            stopReceiverOnHost({ file });
            await exited;
            assert.ok(!fs.existsSync(receiverPidFile({ file })));
        } finally {
            child.kill();
            removeTmp(dir);
        }
    });

    it("in an HAProxy instance: the init's start script starts the supervisor, whose exec is exact argv", () => {
        assert.match(INSTANCE_START_SCRIPT, /\[ -f \/opt\/bluegreen\/accesslog\.sh \] && sh \/opt\/bluegreen\/accesslog\.sh\nexec haproxy /);
        assert.deepEqual(supervisorCmd({ remote: "prod" }, "p-haproxy").argv, ["incus", "exec", "prod:p-haproxy", "--", "sh", "/opt/bluegreen/accesslog.sh"]);
        assert.deepEqual(supervisorCmd({}, "p-haproxy", "stop").argv, ["incus", "exec", "p-haproxy", "--", "sh", "/opt/bluegreen/accesslog.sh", "stop"]);
        // The supervisor restarts a receiver that crashed, and ends when one exits 0 (another holds the port).
        assert.match(INSTANCE_SUPERVISOR_SCRIPT, /until node "\$JS" "\$CONF"; do/);
        assert.equal(INSTANCE_RECEIVER.conf, "/opt/bluegreen/accesslog.json");
    });

    it("the receiver run as a file reads its settings from a JSON file", async () => {
        const dir = makeTmp("alogf-");
        const file = path.join(dir, "access.log");
        const port = 20000 + Math.floor(Math.random() * 20000);
        const script = path.join(dir, "accesslog.js");
        const conf = path.join(dir, "accesslog.json");
        fs.writeFileSync(script, RECEIVER_SCRIPT);
        const pidFile = path.join(dir, "accesslog.pid");
        fs.writeFileSync(conf, JSON.stringify({ ...JSON.parse(receiverConf({ port, file, maxBytes: 4096, keep: 2 })), pidFile }));
        assert.deepEqual(JSON.parse(receiverConf({ port, file, maxBytes: 4096, keep: 2 })), {
            port,
            file,
            maxBytes: 4096,
            keep: 2,
            pidFile: INSTANCE_RECEIVER.pid,
        });
        const { spawn } = await import("child_process");
        const child = spawn(process.execPath, [script, conf], { stdio: "ignore" });
        try {
            // It writes its pid file once it holds the port (a loaded machine may take seconds).
            for (let k = 0; k < 100 && !fs.existsSync(pidFile); k++) await new Promise((r) => setTimeout(r, 100));
            const sock = dgram.createSocket("udp4");
            await new Promise<void>((r) => sock.send("GET /from-a-file\n", port, "127.0.0.1", () => r()));
            sock.close();
            for (let k = 0; k < 100 && !(fs.existsSync(file) && fs.readFileSync(file, "utf8").endsWith("\n")); k++)
                await new Promise((r) => setTimeout(r, 100));
            assert.match(fs.readFileSync(file, "utf8"), /^\d{4}-\d\d-\d\dT[\d:.]+Z GET \/from-a-file\n$/);
            assert.equal(fs.readFileSync(pidFile, "utf8"), `${child.pid}\n`, "the receiver that holds the port names itself");
        } finally {
            child.kill();
            removeTmp(dir);
        }
    });
});
