import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { ServingGuard, mightServe, refuseIfRouted, refuseIfServing, routedRefusal, servingRefusal } from "../../../components/release/cleanup";
import { isRefused } from "../../../components/model/errors";
import { INCUS_NOT_FOUND, RunnerStub, fail, ok, stubRunner } from "../../helpers/runnerStub";
import { haproxyCliSocket } from "../../helpers/haproxySocket";
import { makeTmp, removeTmp } from "../../helpers/tmp";
import { renderConfig } from "../../../components/model/traffic/haproxyConfig";
import { allOn } from "../../../components/model/traffic/traffic";
import { ChildProcess, spawn } from "child_process";

/** The stack's config as the switch renders it on this host (dir = the stack's HAProxy dir), all traffic on `color`. */
function configOn(dir: string, color: "blue" | "green"): string {
    return renderConfig({
        stack: "dev",
        split: allOn(color),
        release: "abc1234",
        frontendPort: 18100,
        exporterPort: 18101,
        adminSocket: path.join(dir, "admin.sock"),
        pidFile: path.join(dir, "haproxy.pid"),
        serverStateFile: path.join(dir, "server-state"),
        releasesMap: path.join(dir, "releases.map"),
        backends: [
            {
                component: "web",
                route: "/",
                healthPath: "/health",
                healthStatus: "200-299",
                servers: [
                    { color: "blue", port: 18130 },
                    { color: "green", port: 18131 },
                ],
            },
        ],
        extra: { global: [], defaults: [], frontend: [] },
    });
}

/**
 * A real haproxy running from `<dir>/haproxy.cfg`, as the stack's own does, whose admin socket
 * cannot be read: it listens on a unix socket only (no port), and has no stats socket.
 */
async function haproxyWithoutAdminSocket(dir: string): Promise<ChildProcess> {
    const cfg = path.join(dir, "haproxy.cfg");
    fs.writeFileSync(
        cfg,
        [
            "global",
            "defaults",
            "    mode http",
            "    timeout connect 1s",
            "    timeout client 1s",
            "    timeout server 1s",
            "frontend fe_main",
            `    bind unix@${path.join(dir, "fe.sock")}`,
            "    default_backend be_web",
            "backend be_web",
            "    server blue 127.0.0.1:9 weight 0",
            "    server green 127.0.0.1:9 weight 100",
            "",
        ].join("\n"),
    );
    const child = spawn("haproxy", ["-W", "-f", cfg], { stdio: "ignore" });
    for (let i = 0; i < 100 && !fs.existsSync(path.join(dir, "fe.sock")); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(fs.existsSync(path.join(dir, "fe.sock")), "haproxy started");
    return child;
}

describe("cleanup", () => {
    it("servingRefusal names the container, where the color is live, and the switch to make first", () => {
        assert.equal(
            servingRefusal("dev-web-blue", "blue", "this host (/var/lib/bluegreen/dev/active-color)"),
            "refusing to delete dev-web-blue: blue is the active color on this host (/var/lib/bluegreen/dev/active-color), so it serves traffic. " +
                "To deploy a new release, set it on green (bluegreen:colors.green.release) with bluegreen:active: green; " +
                "to remove blue, first switch traffic with bluegreen:active: green and pulumi up, then remove bluegreen:colors.blue.",
        );
    });

    describe("refuseIfServing", () => {
        let dir: string;
        let guard: ServingGuard;
        let stub: RunnerStub | undefined;
        beforeEach(() => {
            dir = makeTmp();
            // An admin socket that does not exist: no HAProxy runs, only the file counts.
            guard = { host: { placement: "host" }, stateDir: dir, adminSocket: path.join(dir, "admin.sock") };
        });
        afterEach(() => {
            stub?.restore();
            stub = undefined;
            removeTmp(dir);
        });

        const activeFile = (color: string) => fs.writeFileSync(path.join(dir, "active-color"), `${color}\n`);

        it("refuses the color the active-color file names", async () => {
            activeFile("blue");
            await assert.rejects(refuseIfServing(guard, "blue", "dev-web-blue"), (e: Error) => {
                assert.equal(isRefused(e), true);
                assert.equal(e.message, servingRefusal("dev-web-blue", "blue", `this host (${dir}/active-color)`));
                assert.ok(e.message.includes("dev-web-blue"));
                assert.ok(e.message.includes("first switch traffic with bluegreen:active: green"));
                return true;
            });
        });

        it("allows the other color, falling back to the file when the admin socket is absent", async () => {
            activeFile("blue");
            assert.equal(await refuseIfServing(guard, "green", "dev-web-green"), undefined);
        });

        it("asks the admin socket after the file", async () => {
            activeFile("blue");
            const sock = await haproxyCliSocket(guard.adminSocket, () => "1\n# be_id be_name ...\n");
            try {
                assert.equal(await refuseIfServing(guard, "green", "dev-web-green"), undefined);
                assert.deepEqual(sock.received, ["show servers state; show version\nquit\n"]);
            } finally {
                await sock.close();
            }
        });

        it("allows any color when nothing was recorded and HAProxy does not run", async () => {
            assert.equal(await refuseIfServing(guard, "blue", "dev-web-blue"), undefined);
            fs.writeFileSync(path.join(dir, "active-color"), "");
            assert.equal(await refuseIfServing(guard, "green", "dev-web-green"), undefined);
        });

        it("refuses a color the running HAProxy gives weight to, even when the file names the other", async () => {
            activeFile("blue");
            const sock = await haproxyCliSocket(
                guard.adminSocket,
                () =>
                    "1\n# be_id be_name srv_id srv_name ...\n4 be_web 1 blue 127.0.0.1 2 0 0 0 7 8 2 0 6 0 0 0 - 18130 - 0 0 - - 0\n4 be_web 2 green 127.0.0.1 2 0 100 100 7 8 2 0 6 0 0 0 - 18131 - 0 0 - - 0\n",
            );
            try {
                await assert.rejects(refuseIfServing(guard, "green", "dev-web-green"), (e: Error) => {
                    assert.equal(isRefused(e), true);
                    assert.equal(e.message, servingRefusal("dev-web-green", "green", "the running HAProxy on this host (live server weights)"));
                    return true;
                });
            } finally {
                await sock.close();
            }
        });

        describe("refuseIfRouted: a node of the serving color", () => {
            const line = (id: number, server: string, weight: number) =>
                `4 be_web ${id} ${server} 127.0.0.1 2 0 ${weight} ${weight} 7 8 2 0 6 0 0 0 - 18130 - 0 0 - - 0`;
            const serving = (servers: string) => () => `1\n# be_id be_name srv_id srv_name ...\n${servers}\n`;

            it("may go once the live HAProxy has no server for it (the switch drained and dropped it)", async () => {
                activeFile("blue");
                const sock = await haproxyCliSocket(guard.adminSocket, serving([line(1, "blue-1", 50), line(2, "blue-2", 50)].join("\n")));
                try {
                    assert.equal(await refuseIfRouted(guard, "blue", "dev-web-blue-3", "be_web", "blue-3"), undefined);
                } finally {
                    await sock.close();
                }
            });

            it("stays while the live HAProxy still has it, at any weight", async () => {
                activeFile("blue");
                const sock = await haproxyCliSocket(guard.adminSocket, serving([line(1, "blue-1", 50), line(3, "blue-3", 0)].join("\n")));
                try {
                    await assert.rejects(refuseIfRouted(guard, "blue", "dev-web-blue-3", "be_web", "blue-3"), (e: Error) => {
                        assert.equal(isRefused(e), true);
                        assert.equal(e.message, routedRefusal("dev-web-blue-3", "be_web", "blue-3", "this host"));
                        assert.match(e.message, /run pulumi up again so it does/);
                        return true;
                    });
                } finally {
                    await sock.close();
                }
            });

            it("the color's only server gets the color's refusal; a color that does not serve may go", async () => {
                activeFile("blue");
                const sock = await haproxyCliSocket(guard.adminSocket, serving([line(1, "blue", 100), line(2, "green", 0)].join("\n")));
                try {
                    await assert.rejects(refuseIfRouted(guard, "blue", "dev-web-blue", "be_web", "blue"), /blue is the active color/);
                    assert.equal(await refuseIfRouted(guard, "green", "dev-web-green", "be_web", "green"), undefined);
                } finally {
                    await sock.close();
                }
            });

            it("with HAProxy down, the config on disk says which servers it routes to", async () => {
                activeFile("blue");
                await assert.rejects(refuseIfRouted(guard, "blue", "dev-web-blue-3", "be_web", "blue-3"), /blue is the active color/, "no config: it stays");
                fs.writeFileSync(path.join(dir, "haproxy.cfg"), configOn(dir, "blue"));
                await assert.rejects(refuseIfRouted(guard, "blue", "dev-web-blue", "be_web", "blue"), /blue is the active color/);
                assert.equal(await refuseIfRouted(guard, "blue", "dev-web-blue-3", "be_web", "blue-3"), undefined, "a node the config does not route to");
            });
        });

        it("HAProxy down: the config on disk decides, so a color it gives weight to stays though the file names the other", async () => {
            activeFile("blue");
            fs.writeFileSync(path.join(dir, "haproxy.cfg"), configOn(dir, "green"));
            await assert.rejects(refuseIfServing(guard, "green", "dev-web-green"), (e: Error) => {
                assert.equal(isRefused(e), true);
                assert.equal(
                    e.message,
                    servingRefusal("dev-web-green", "green", `the HAProxy config on this host (${dir}/haproxy.cfg), which HAProxy serves when it starts again`),
                );
                return true;
            });
            assert.equal(await mightServe(guard, "green"), true);
            await assert.rejects(refuseIfServing(guard, "blue", "dev-web-blue"), /blue is the active color/, "the file still counts");
            fs.writeFileSync(path.join(dir, "haproxy.cfg"), configOn(dir, "blue"));
            assert.equal(await refuseIfServing(guard, "green", "dev-web-green"), undefined, "a config that gives green no weight lets it go");
        });

        describe("HAProxy runs but its live weights cannot be read", () => {
            let haproxy: ChildProcess | undefined;
            afterEach(() => {
                if (haproxy?.pid && haproxy.exitCode === null) process.kill(haproxy.pid, "SIGKILL");
                haproxy = undefined;
            });

            it("fails closed: refuses either color, saying why and what works", async () => {
                activeFile("blue");
                haproxy = await haproxyWithoutAdminSocket(dir);
                await assert.rejects(refuseIfServing(guard, "green", "dev-web-green"), (e: Error) => {
                    assert.equal(isRefused(e), true);
                    assert.match(e.message, /^refusing to delete dev-web-green: cannot read the live active color from this host .*: HAProxy runs/);
                    assert.match(e.message, /set bluegreen:cleanup\.assumeActive to it\.$/);
                    return true;
                });
                assert.equal(await mightServe(guard, "green"), true);
                await refuseIfServing({ ...guard, assumeActive: "blue" }, "green", "dev-web-green");
            });

            it("refuseIfRouted fails closed for a node of the serving color", async () => {
                activeFile("blue");
                haproxy = await haproxyWithoutAdminSocket(dir);
                await assert.rejects(refuseIfRouted(guard, "blue", "dev-web-blue-3", "be_web", "blue-3"), (e: Error) => {
                    assert.equal(isRefused(e), true);
                    assert.match(e.message, /^refusing to delete dev-web-blue-3: cannot read the live active color from (the running HAProxy on )?this host/);
                    return true;
                });
            });
        });

        it("refuses when the active-color file cannot be read", async () => {
            fs.mkdirSync(path.join(dir, "active-color")); // a directory: EISDIR
            await assert.rejects(refuseIfServing(guard, "green", "dev-web-green"), (e: Error) => {
                assert.equal(isRefused(e), true);
                assert.match(
                    e.message,
                    new RegExp(`^refusing to delete dev-web-green: cannot read the live active color from this host \\(${dir}/active-color\\): EISDIR`),
                );
                assert.ok(
                    e.message.endsWith(
                        "It might serve traffic. Start haproxy (`pulumi up` starts it) and run pulumi up again, or, if you know which color serves, set bluegreen:cleanup.assumeActive to it.",
                    ),
                );
                return true;
            });
        });

        it("allows anything when the HAProxy instance does not exist", async () => {
            stub = stubRunner(() => INCUS_NOT_FOUND);
            await refuseIfServing(
                { host: { placement: "incus", instance: "dev-haproxy" }, stateDir: "/var/lib/bluegreen", adminSocket: "/var/lib/bluegreen/dev/admin.sock" },
                "blue",
                "dev-web-blue",
            );
            assert.deepEqual(stub.argvs(), [["incus", "query", "/1.0/instances/dev-haproxy"]]);
        });

        it("reads the file inside a running HAProxy instance; with HAProxy down there, its config on disk", async () => {
            stub = stubRunner((cmd) => {
                if (cmd.argv[1] === "query") return ok(JSON.stringify({ name: "dev-haproxy", status: "Running" }));
                if (cmd.argv.includes("pgrep")) return fail(1, ""); // no haproxy process in the instance
                if (cmd.argv.at(-2)?.endsWith("/etc/haproxy/bluegreen.cfg")) return fail(1, "Error: file does not exist");
                return ok("blue\n");
            });
            const g: ServingGuard = {
                host: { placement: "incus", instance: "dev-haproxy" },
                stateDir: "/var/lib/bluegreen",
                adminSocket: "/var/lib/bluegreen/dev/admin.sock",
            };
            await assert.rejects(refuseIfServing(g, "blue", "dev-web-blue"), {
                message: servingRefusal("dev-web-blue", "blue", "instance dev-haproxy (/var/lib/bluegreen/active-color)"),
            });
            assert.deepEqual(stub.argvs(), [
                ["incus", "query", "/1.0/instances/dev-haproxy"],
                ["incus", "file", "pull", "dev-haproxy/var/lib/bluegreen/active-color", "-"],
                ["incus", "exec", "dev-haproxy", "--", "busybox", "pgrep", "-x", "haproxy"],
                ["incus", "file", "pull", "dev-haproxy/etc/haproxy/bluegreen.cfg", "-"],
            ]);
        });

        describe("fails closed when the HAProxy instance exists but is not running", () => {
            const g = (assumeActive?: "blue" | "green"): ServingGuard => ({
                host: { placement: "incus", instance: "prod-haproxy" },
                stateDir: "/var/lib/veza",
                adminSocket: "/var/lib/veza/prod/admin.sock",
                ...(assumeActive ? { assumeActive } : {}),
            });
            const stopped = () => stubRunner(() => ok(JSON.stringify({ name: "prod-haproxy", status: "Stopped" })));

            it("refuses, saying how to start it or what to set", async () => {
                stub = stopped();
                await assert.rejects(refuseIfServing(g(), "green", "prod-web-green"), (e: Error) => {
                    assert.equal(isRefused(e), true);
                    assert.equal(
                        e.message,
                        "refusing to delete prod-web-green: cannot read the live active color from instance prod-haproxy (/var/lib/veza/active-color): " +
                            "instance prod-haproxy is Stopped. It might serve traffic. Start `incus start prod-haproxy` and run pulumi up again, " +
                            "or, if you know which color serves, set bluegreen:cleanup.assumeActive to it.",
                    );
                    return true;
                });
                assert.deepEqual(stub.argvs(), [["incus", "query", "/1.0/instances/prod-haproxy"]], "nothing deleted, nothing else asked");
                assert.equal(await mightServe(g(), "green"), true);
            });

            it("with bluegreen:cleanup.assumeActive, allows the other color and still refuses that one", async () => {
                stub = stopped();
                await refuseIfServing(g("blue"), "green", "prod-web-green");
                await assert.rejects(
                    refuseIfServing(g("blue"), "blue", "prod-web-blue"),
                    /blue is the active color on .*as bluegreen:cleanup\.assumeActive says/,
                );
                assert.equal(await mightServe(g("blue"), "green"), false);
                assert.equal(await mightServe(g("blue"), "blue"), true);
            });

            it("a readable live color wins over assumeActive", async () => {
                stub = stubRunner((cmd) =>
                    cmd.argv[1] === "query"
                        ? ok(JSON.stringify({ name: "prod-haproxy", status: "Running" }))
                        : cmd.argv.includes("pgrep")
                          ? fail(1, "")
                          : ok("green\n"),
                );
                await assert.rejects(refuseIfServing(g("blue"), "green", "prod-web-green"), /green is the active color on instance prod-haproxy/);
            });
        });
    });
});
