// The remote reach (issue 21 part 1), pure parts and the retry logic with the exec seam stubbed:
// the AdminChannel (socat over `incus exec` with a sentinel), the prober (its argv, its parsing,
// its retry, and the constant script itself run by node against a real local server), the
// remote's address, the image copy, the HAProxy instance's devices and the config refusals.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as http from "http";
import { AddressInfo } from "net";
import { Cmd, CmdResult, setRunner } from "../../../components/io/exec";
import { BASE_IMAGE, baseImageFiles, imageMetadata } from "../../../components/io/baseImage";
import { imageCopyCmd, imageImportCmd, parseServerAddress, proxyDevice } from "../../../components/io/incus";
import { PROBER_SCRIPT, PROBER_SENTINEL, parseProberOutput, probeAll, proberCmd } from "../../../components/io/prober";
import { EXEC_SENTINEL, SOCAT_SCRIPT, adminCommands, parseSentinel, readyHint, reloadAndWait, socatExecCmd } from "../../../components/io/runtimeApi";
import { parseConfig } from "../../../components/model/config";
import { haproxyLayout } from "../../../components/model/naming";
import { AdminChannel, haproxyChannel, haproxyHostOf, probeRoute, probeRouteOf } from "../../../components/model/traffic/topology";
import { frontendUrl, haproxyInputs, switchInputs } from "../../../components/plan";
import { instanceProxies } from "../../../components/release/traffic/haproxy";
import { minimalRaw, stackConfig } from "../../helpers/stackConfig";

const EXEC: Extract<AdminChannel, { via: "exec" }> = { via: "exec", target: { remote: "prod" }, instance: "prod-haproxy", socket: "/run/haproxy/admin.sock" };
const LAYOUT = haproxyLayout("incus", "veza", "prod");
const INCUS_PORTS = { placement: "incus", frontendPort: 18200, exporterPort: 18201 };

/** Stubs the exec seam with answers in turn; records the commands. */
function stub(answers: CmdResult[]): { cmds: Cmd[]; restore: () => void } {
    const cmds: Cmd[] = [];
    const restore = setRunner(async (cmd) => {
        cmds.push(cmd);
        return answers[Math.min(cmds.length - 1, answers.length - 1)];
    });
    return { cmds, restore };
}

describe("remote reach", () => {
    describe("the AdminChannel", () => {
        it("is a socket of this host without a remote (host placement, or an instance of the local daemon), exec into the instance with one", () => {
            assert.deepEqual(haproxyChannel({ placement: "host" }, haproxyLayout("host", "veza", "dev", "/d"), "admin"), {
                via: "socket",
                socket: "/d/admin.sock",
            });
            assert.deepEqual(haproxyChannel(haproxyHostOf("incus", "s-"), LAYOUT, "master"), { via: "socket", socket: "/var/lib/veza/prod/master.sock" });
            assert.deepEqual(haproxyChannel(haproxyHostOf("incus", "prod-", "prod"), LAYOUT, "admin"), EXEC);
            assert.deepEqual(haproxyChannel(haproxyHostOf("incus", "prod-", "prod"), LAYOUT, "master"), { ...EXEC, socket: "/run/haproxy/master.sock" });
        });

        it("socatExecCmd: one exec of a constant script, the socket as its argument, the commands and quit on stdin", () => {
            assert.deepEqual(socatExecCmd(EXEC, ["set server be_web/blue weight 100", "show version"], 25_000), {
                argv: ["incus", "exec", "prod:prod-haproxy", "--", "sh", "-c", SOCAT_SCRIPT, "sh", "/run/haproxy/admin.sock"],
                input: "set server be_web/blue weight 100; show version\nquit\n",
                timeoutMs: 25_000,
            });
            assert.equal(SOCAT_SCRIPT, `socat -t 10 - "UNIX-CONNECT:$1"; rc=$?; echo; echo "${EXEC_SENTINEL} $rc"`);
        });

        it("parseSentinel: socat's answer and exit code, or undefined when the output was lost", () => {
            assert.deepEqual(parseSentinel(`a\nb\n\n${EXEC_SENTINEL} 0\n`), { body: "a\nb\n", code: 0 });
            assert.deepEqual(parseSentinel(`\n${EXEC_SENTINEL} 1\n`), { body: "", code: 1 });
            assert.equal(parseSentinel(""), undefined);
            assert.equal(parseSentinel("a\nb\n"), undefined);
        });

        it("a batch goes in one exec; an exec whose output was lost (exit 0, nothing) is asked again, bounded", async () => {
            const ok = { code: 0, stdout: `\n\n2.6.12-1\n\n${EXEC_SENTINEL} 0\n`, stderr: "" };
            const s = stub([{ code: 0, stdout: "", stderr: "" }, ok]);
            try {
                assert.equal(await adminCommands(EXEC, ["set server be_web/blue weight 100", "set server be_web/green weight 0"]), "\n");
                assert.equal(s.cmds.length, 2);
                assert.equal(s.cmds[0].input, "set server be_web/blue weight 100; set server be_web/green weight 0; show version\nquit\n");
            } finally {
                s.restore();
            }
            const lost = stub([{ code: 0, stdout: "", stderr: "" }]);
            try {
                await assert.rejects(
                    adminCommands(EXEC, ["show servers state"]),
                    /prod:prod-haproxy:\/run\/haproxy\/admin\.sock \(incus exec\)\) did not answer.*output was lost/,
                );
                assert.equal(lost.cmds.length, 3);
            } finally {
                lost.restore();
            }
        });

        it("socat's failure (no socket) is not retried, and is reported", async () => {
            const s = stub([
                { code: 0, stdout: `\n${EXEC_SENTINEL} 1\n`, stderr: 'socat E connect(5, AF=1 "/run/haproxy/admin.sock", 25): No such file or directory' },
            ]);
            try {
                await assert.rejects(adminCommands(EXEC, ["show info"]), /No such file/);
                assert.equal(s.cmds.length, 1);
            } finally {
                s.restore();
            }
        });

        it("reload is never sent twice: a lost answer is judged by the master's reload counter", async () => {
            const proc = (reloads: number, worker: number) =>
                `#<PID>          <type>          <reloads>       <uptime>        <version>\n1 master ${reloads} 1s 2.6\n# workers\n${worker} worker 0 1s 2.6\n`;
            const answers = [proc(1, 10), "", proc(2, 11)];
            const cmds: Cmd[] = [];
            const restore = setRunner(async (cmd) => {
                cmds.push(cmd);
                const text = answers[Math.min(cmds.length - 1, answers.length - 1)];
                return { code: 0, stdout: text === "" ? "" : `${text}\n${EXEC_SENTINEL} 0\n`, stderr: "" };
            });
            try {
                const done = await reloadAndWait({ ...EXEC, socket: "/run/haproxy/master.sock" }, 5000);
                assert.equal(done.reloads, 2);
                assert.equal(cmds.filter((c) => c.input === "reload\nquit\n").length, 1);
            } finally {
                restore();
            }
        });

        it("readyHint names how to send the command by hand over either channel", () => {
            assert.equal(readyHint("/d/admin.sock", "set server b/s state ready"), '`echo "set server b/s state ready" | socat stdio /d/admin.sock`');
            assert.equal(
                readyHint(EXEC, "set server b/s state ready"),
                '`echo "set server b/s state ready" | incus exec prod:prod-haproxy -- socat stdio /run/haproxy/admin.sock`',
            );
        });
    });

    describe("the prober", () => {
        const ROUTE = { via: "exec" as const, target: { remote: "prod" }, instance: "prod-haproxy" };

        it("goes through the HAProxy instance only with a remote", () => {
            assert.deepEqual(probeRoute({ placement: "host" }), { via: "local" });
            assert.deepEqual(probeRoute(haproxyHostOf("incus", "s-")), { via: "local" });
            assert.deepEqual(probeRoute(haproxyHostOf("incus", "prod-", "prod")), ROUTE);
            assert.deepEqual(probeRouteOf({ remote: "prod", probeVia: "prod-haproxy" }), ROUTE);
            assert.deepEqual(probeRouteOf({}), { via: "local" });
        });

        it("proberCmd: one exec of `node -e` with the constant script, the targets as JSON on stdin, bounded by the slowest target", () => {
            const cmd = proberCmd(ROUTE, [
                { url: "http://127.0.0.1:18110/health", timeoutMs: 2000 },
                { url: "http://127.0.0.1:18100/", timeoutMs: 3000, body: false },
            ]);
            assert.deepEqual(cmd, {
                argv: ["incus", "exec", "prod:prod-haproxy", "--", "node", "-e", PROBER_SCRIPT],
                input: '[{"url":"http://127.0.0.1:18110/health","timeoutMs":2000},{"url":"http://127.0.0.1:18100/","timeoutMs":3000,"body":false}]',
                timeoutMs: 23_000,
            });
        });

        it("proberCmd: request headers (the maintenance probe token) go on stdin, never in argv", () => {
            const cmd = proberCmd(ROUTE, [{ url: "http://127.0.0.1:18100/", timeoutMs: 1000, headers: { "x-bluegreen-probe": "t0k" } }]);
            assert.equal(cmd.input, '[{"url":"http://127.0.0.1:18100/","timeoutMs":1000,"headers":{"x-bluegreen-probe":"t0k"}}]');
            assert.ok(!cmd.argv.join(" ").includes("t0k"));
        });

        it("parseProberOutput: one result per target and the sentinel, else undefined", () => {
            const p = { status: 200, headers: { "x-color": "blue" }, body: "ok", detail: "ok" };
            assert.deepEqual(parseProberOutput(`${JSON.stringify(p)}\n${PROBER_SENTINEL}\n`, 1), [p]);
            assert.equal(parseProberOutput(`${JSON.stringify(p)}\n`, 1), undefined, "no sentinel: lost");
            assert.equal(parseProberOutput(`${PROBER_SENTINEL}\n`, 1), undefined, "a result missing");
            assert.equal(parseProberOutput(`{"status":"x"}\n${PROBER_SENTINEL}\n`, 1), undefined, "not a probe");
            assert.equal(parseProberOutput(`not json\n${PROBER_SENTINEL}\n`, 1), undefined);
        });

        it("probeAll asks again when the output was lost, and never throws: a prober that never answers is status 0 with the reason", async () => {
            const p = { status: 204, headers: {}, body: "", detail: "" };
            const s = stub([
                { code: 0, stdout: "", stderr: "" },
                { code: 0, stdout: `${JSON.stringify(p)}\n${PROBER_SENTINEL}\n`, stderr: "" },
            ]);
            try {
                assert.deepEqual(await probeAll(ROUTE, [{ url: "http://127.0.0.1:1/", timeoutMs: 100 }]), [p]);
                assert.equal(s.cmds.length, 2);
            } finally {
                s.restore();
            }
            const dead = stub([{ code: 1, stdout: "", stderr: "Error: Instance not found" }]);
            try {
                const [r] = await probeAll(ROUTE, [{ url: "http://127.0.0.1:1/", timeoutMs: 100 }]);
                assert.equal(r.status, 0);
                assert.match(r.detail, /the prober in prod:prod-haproxy \(incus exec\) gave no answer: exit 1: Error: Instance not found/);
                assert.equal(dead.cmds.length, 3);
            } finally {
                dead.restore();
            }
        });

        it("the constant script, run by node, probes real targets in order, each within its own deadline", async function () {
            this.timeout(20_000);
            const server = http.createServer((req, res) => {
                if (req.url === "/hang") return; // never answers
                res.writeHead(req.url === "/down" ? 503 : 200, { "x-color": "green" });
                res.end(`hello from ${req.url}`);
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            const port = (server.address() as AddressInfo).port;
            try {
                const targets = [
                    { url: `http://127.0.0.1:${port}/health`, timeoutMs: 2000 },
                    { url: `http://127.0.0.1:${port}/hang`, timeoutMs: 300 },
                    { url: `http://127.0.0.1:${port}/down`, timeoutMs: 2000, body: false },
                    { url: "http://127.0.0.1:1/", timeoutMs: 2000 },
                ];
                const out = await new Promise<string>((resolve) => {
                    const child = spawn(process.execPath, ["-e", PROBER_SCRIPT]);
                    let text = "";
                    child.stdout.on("data", (b: Buffer) => (text += b.toString()));
                    child.on("close", () => resolve(text));
                    child.stdin.end(JSON.stringify(targets));
                });
                const probes = parseProberOutput(out, targets.length);
                assert.ok(probes, out);
                assert.deepEqual(
                    probes.map((p) => [p.status, p.headers["x-color"] ?? "", p.body]),
                    [
                        [200, "green", "hello from /health"],
                        [0, "", ""],
                        [503, "green", ""],
                        [0, "", ""],
                    ],
                );
                assert.equal(probes[1].detail, "timed out after 300 ms");
                assert.match(probes[3].detail, /ECONNREFUSED/);
            } finally {
                server.close();
            }
        });
    });

    describe("the frontend, the image and validation", () => {
        it("parseServerAddress: the remote's own IPv4 from environment.addresses, else core.https_address, without the port", () => {
            assert.equal(parseServerAddress(JSON.stringify({ environment: { addresses: ["10.91.37.11:8443"] }, config: {} })), "10.91.37.11");
            assert.equal(
                parseServerAddress(
                    JSON.stringify({ environment: { addresses: ["[fd00::1]:8443", "127.0.0.1:8443"] }, config: { "core.https_address": "192.0.2.7:8443" } }),
                ),
                "192.0.2.7",
            );
            assert.equal(parseServerAddress(JSON.stringify({ environment: { addresses: [] }, config: { "core.https_address": ":8443" } })), undefined);
        });

        it("with a remote, the frontend and exporter listen on its address, and the instance has no unix-socket device", () => {
            const i = haproxyInputs(
                stackConfig({ app: "veza", haproxy: { placement: "incus", frontendPort: 18200, exporterPort: 18201 }, incus: { remote: "prod" } }, "prod"),
            );
            const devs = instanceProxies(i, "10.0.0.5");
            assert.deepEqual(devs.frontend, { listenPort: 18200, connectPort: 18200, listenAddress: "10.0.0.5" });
            assert.deepEqual(proxyDevice(devs.frontend), { type: "proxy", listen: "tcp:10.0.0.5:18200", connect: "tcp:127.0.0.1:18200" });
            assert.deepEqual(proxyDevice(devs.metrics), { type: "proxy", listen: "tcp:10.0.0.5:18201", connect: "tcp:127.0.0.1:18201" });
            assert.deepEqual(
                Object.values(devs).filter((d) => "listenSocket" in d),
                [],
            );
            assert.ok("admin-sock" in instanceProxies(i), "without a remote, the sockets come to this host as before");
        });

        it("with a remote, every stateful service's port reaches the HAProxy instance (its health is probed from there)", () => {
            const stateful = { db: { release: "1a1a1a1", hostPort: 18150, volumes: { data: "/d" } } };
            const remote = haproxyInputs(stackConfig({ haproxy: { ...INCUS_PORTS }, incus: { remote: "prod" }, stateful }, "prod"));
            assert.ok(remote.backendPorts.includes(18150));
            assert.ok(!haproxyInputs(stackConfig({ haproxy: { ...INCUS_PORTS }, stateful }, "prod")).backendPorts.includes(18150));
            // The switch keeps their devices: it prunes only what neither routes nor probes.
            assert.deepEqual(switchInputs(stackConfig({ haproxy: { ...INCUS_PORTS }, incus: { remote: "prod" }, stateful }, "prod")).probePorts, [18150]);
            assert.equal("probePorts" in switchInputs(stackConfig({ haproxy: { ...INCUS_PORTS }, stateful }, "prod")), false);
        });

        it("the url output names the remote's address", () => {
            const c = stackConfig({ haproxy: { placement: "incus", frontendPort: 18200, exporterPort: 18201 }, incus: { remote: "prod" } }, "prod");
            assert.equal(frontendUrl(c, "10.0.0.5"), "http://10.0.0.5:18200/");
            assert.equal(frontendUrl(c), "http://127.0.0.1:18200/");
        });

        it("imageCopyCmd copies this machine's base image to the remote under its alias, bounded", () => {
            assert.deepEqual(imageCopyCmd({ remote: "prod" }, "bluegreen-base"), {
                argv: ["incus", "image", "copy", "local:bluegreen-base", "prod:", "--alias", "bluegreen-base", "--quiet"],
                timeoutMs: 180_000,
            });
        });

        it("imageImportCmd imports the image's files into the remote under its alias, bounded", () => {
            assert.deepEqual(imageImportCmd({ remote: "prod" }, ["/c/m.tar", "/c/r.tar"], "bluegreen-base"), {
                argv: ["incus", "image", "import", "/c/m.tar", "/c/r.tar", "prod:", "--alias", "bluegreen-base", "--quiet"],
                timeoutMs: 180_000,
            });
        });

        it("baseImageFiles packs the newest complete rootfs cache once, as scripts/cluster.sh does, and only for the base image", async () => {
            const cache = fs.mkdtempSync(path.join(os.tmpdir(), "bg-cache-"));
            const before = process.env.BLUEGREEN_CACHE_DIR;
            process.env.BLUEGREEN_CACHE_DIR = cache;
            try {
                assert.equal(await baseImageFiles(BASE_IMAGE), undefined, "no cache");
                fs.mkdirSync(path.join(cache, "rootfs-abc123/etc"), { recursive: true });
                fs.writeFileSync(path.join(cache, "rootfs-abc123/etc/hostname"), "x\n");
                assert.equal(await baseImageFiles(BASE_IMAGE), undefined, "not complete");
                fs.writeFileSync(path.join(cache, "rootfs-abc123/.complete"), "");
                const files = await baseImageFiles(BASE_IMAGE);
                assert.deepEqual(files, [path.join(cache, "cluster-image-abc123/metadata.tar"), path.join(cache, "cluster-image-abc123/rootfs.tar")]);
                const list = (f: string) => spawnSync("tar", ["-tf", f], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).sort();
                assert.deepEqual(list(files![0]), ["metadata.yaml"]);
                assert.deepEqual(list(files![1]), ["./", "./etc/", "./etc/hostname"]);
                assert.equal(await baseImageFiles("my-own-image"), undefined);
                assert.deepEqual(fs.readdirSync(cache).sort(), ["cluster-image-abc123", "rootfs-abc123"], "no temp dir left");
            } finally {
                if (before === undefined) delete process.env.BLUEGREEN_CACHE_DIR;
                else process.env.BLUEGREEN_CACHE_DIR = before;
                fs.rmSync(cache, { recursive: true, force: true });
            }
        });

        it("imageMetadata names the recipe, as scripts/cluster.sh writes it", () => {
            assert.equal(
                imageMetadata("abc123", "x86_64", 1700000000),
                'architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: bluegreen base (Debian bookworm minbase)\n  os: debian\n  release: bookworm\n  bluegreen.recipe: "abc123"\n',
            );
        });

        it("refuses haproxy.placement host with a remote, and prometheus.url with a remote, with the reason", () => {
            const problems = (over: Record<string, unknown>) => {
                try {
                    parseConfig({ ...minimalRaw(), ...over }, "prod");
                    return [];
                } catch (e) {
                    return (e as Error).message.split("\n").filter((l) => l.startsWith("  "));
                }
            };
            assert.deepEqual(problems({ incus: { remote: "prod" } }), [
                "  bluegreen:haproxy.placement: host cannot go with bluegreen:incus.remote (prod): HAProxy on this machine would route to loopback ports " +
                    "that exist only on the remote's host; set bluegreen:haproxy.placement: incus, or remove bluegreen:incus.remote",
            ]);
            const incus = { ...(minimalRaw().haproxy as object), placement: "incus" };
            assert.deepEqual(problems({ incus: { remote: "prod" }, haproxy: incus }), []);
            const [p] = problems({ incus: { remote: "prod" }, haproxy: incus, prometheus: { url: "http://prom.example:9090" } });
            assert.match(
                p,
                /bluegreen:prometheus\.url cannot go with bluegreen:incus\.remote \(prod\) yet: the scrape targets are loopback ports of the remote's host/,
            );
        });
    });
});
