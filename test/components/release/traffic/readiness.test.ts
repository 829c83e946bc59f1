import assert from "node:assert/strict";
import { isRefused } from "../../../../components/model/errors";
import { DEFAULT_EXPECT } from "../../../../components/release/traffic/health";
import { ContainerCheck, assertColorReady, checkTargets, precheckRefusal } from "../../../../components/release/traffic/readiness";
import { TestServer, closedPort, startServer } from "../../../helpers/httpServer";
import { INCUS_NOT_FOUND, RunnerStub, instanceJson, ok, stubRunner } from "../../../helpers/runnerStub";

const fine = (container: string): ContainerCheck => ({ container, status: "RUNNING", healthy: true, reason: "HTTP 200" });

describe("rollback", () => {
    describe("precheckRefusal", () => {
        it("is undefined when every container is RUNNING and healthy", () => {
            assert.equal(precheckRefusal("blue", [fine("dev-web-blue"), fine("dev-backend-blue")]), undefined);
            assert.equal(precheckRefusal("blue", []), undefined);
        });

        it("names each bad container and the next step, and says HAProxy was not touched", () => {
            const refusal = precheckRefusal("blue", [
                { container: "dev-backend-blue", status: "ABSENT", healthy: false, reason: "absent" },
                fine("dev-stream-blue"),
                { container: "dev-web-blue", status: "STOPPED", healthy: false, reason: "STOPPED" },
                { container: "dev-api-blue", status: "RUNNING", healthy: false, reason: "HTTP 500: boom" },
            ]);
            assert.equal(
                refusal,
                "switching traffic to blue needs every blue container RUNNING and healthy; " +
                    "dev-backend-blue does not exist; dev-web-blue is STOPPED; dev-api-blue is unhealthy (HTTP 500: boom). " +
                    "Run `pulumi up` again: it restarts dev-web-blue (or `incus start dev-web-blue`) and recreates dev-backend-blue before it switches, " +
                    "or set bluegreen:colors.blue.release to a release that passes its health check (full rollback), or keep bluegreen:active: green. " +
                    "HAProxy was not touched.",
            );
        });

        it("names the target color and the one to keep for green", () => {
            const refusal = precheckRefusal("green", [{ container: "dev-web-green", status: "FROZEN", healthy: false, reason: "FROZEN" }])!;
            assert.match(refusal, /^switching traffic to green needs every green container RUNNING and healthy; dev-web-green is FROZEN\. /);
            // Only a stopped one: the advice is to restart it, not to redeploy a release that is already set.
            assert.ok(
                refusal.includes(
                    "Run `pulumi up` again: it restarts dev-web-green (or `incus start dev-web-green`) before it switches, or keep bluegreen:active: blue.",
                ),
            );
            assert.equal(refusal.includes("bluegreen:colors.green.release"), false);
            assert.ok(refusal.endsWith("HAProxy was not touched."));
        });

        it("treats a RUNNING container flagged unhealthy as bad even with reason HTTP 200", () => {
            assert.match(precheckRefusal("blue", [{ ...fine("w"), healthy: false }])!, /w is unhealthy \(HTTP 200\)/);
        });
    });

    describe("checkTargets and assertColorReady", () => {
        let stub: RunnerStub | undefined;
        let server: TestServer | undefined;
        afterEach(async () => {
            stub?.restore();
            await server?.close();
            stub = server = undefined;
        });

        /** Incus answers: `absent` does not exist, `stopped` is Stopped, everything else Running, labelled blue abc1234 unless its name says old or green. */
        function incus(): RunnerStub {
            const one = (name: string) => {
                const labels = {
                    "user.bluegreen.color": name.endsWith("-green") ? "green" : "blue",
                    "user.bluegreen.release": name.startsWith("dev-old-") ? "def5678" : "abc1234",
                };
                return instanceJson(name, name === "dev-stopped-blue" ? "Stopped" : "Running", labels);
            };
            return stubRunner((cmd) => {
                if (cmd.argv[2].endsWith("/1.0/instances?recursion=1")) {
                    const all = ["dev-stopped-blue", "dev-web-blue", "dev-old-blue", "dev-stream-blue", "dev-web-green"];
                    return ok(JSON.stringify(all.map((n) => JSON.parse(one(n)))));
                }
                const name = cmd.argv[2].split("/").pop()!;
                if (name === "dev-absent-blue") return INCUS_NOT_FOUND;
                return ok(one(name));
            });
        }

        /** /ok answers 200 with no header at all (the app owes bluegreen none), /err answers 500. */
        async function app(): Promise<TestServer> {
            return startServer((req, res) => {
                if (req.url === "/err") {
                    res.writeHead(500);
                    res.end("crashed");
                    return;
                }
                res.writeHead(200);
                res.end("ok");
            });
        }

        const t = (container: string, healthPath: string, port: number) => ({ container, port, healthPath, expect: DEFAULT_EXPECT, release: "abc1234" });

        it("checks each container's own record and its health, in parallel", async () => {
            server = await app();
            stub = incus();
            const dead = await closedPort();
            const checks = await checkTargets(
                { remote: "prod" },
                "blue",
                [
                    t("dev-absent-blue", "/ok", dead),
                    t("dev-stopped-blue", "/ok", dead),
                    t("dev-web-blue", "/ok", server.port),
                    t("dev-old-blue", "/ok", server.port),
                    t("dev-stream-blue", "/err", server.port),
                ],
                1000,
            );
            assert.deepEqual(checks, [
                { container: "dev-absent-blue", status: "ABSENT", healthy: false, reason: "absent" },
                { container: "dev-stopped-blue", status: "STOPPED", healthy: false, reason: "STOPPED" },
                { container: "dev-web-blue", status: "RUNNING", healthy: true, reason: "HTTP 200" },
                { container: "dev-old-blue", status: "RUNNING", healthy: false, reason: "it is blue def5678, not blue abc1234" },
                { container: "dev-stream-blue", status: "RUNNING", healthy: false, reason: "HTTP 500: crashed (expected 200-299)" },
            ]);
            assert.deepEqual(stub.argvs(), [["incus", "query", "prod:/1.0/instances?recursion=1"]], "one Incus query for all the containers (one round trip)");
        });

        it("without a probe (HAProxy's own check judges health): Incus's record only, no probe sent", async () => {
            let hits = 0;
            server = await startServer((_req, res) => {
                hits++;
                res.writeHead(500);
                res.end("crashed");
            });
            stub = incus();
            const checks = await checkTargets(
                { remote: "prod" },
                "blue",
                [t("dev-web-blue", "/err", server.port), t("dev-old-blue", "/err", server.port), t("dev-stopped-blue", "/err", server.port)],
                1000,
                { via: "exec", target: { remote: "prod" }, instance: "prod-haproxy" },
                false,
            );
            assert.deepEqual(checks, [
                { container: "dev-web-blue", status: "RUNNING", healthy: true, reason: "left to HAProxy's health check" },
                { container: "dev-old-blue", status: "RUNNING", healthy: false, reason: "it is blue def5678, not blue abc1234" },
                { container: "dev-stopped-blue", status: "STOPPED", healthy: false, reason: "STOPPED" },
            ]);
            assert.deepEqual(stub.argvs(), [["incus", "query", "prod:/1.0/instances?recursion=1"]], "no prober exec");
            assert.equal(hits, 0);
        });

        it("a healthy container of the other color is not the target container", async () => {
            server = await app();
            stub = incus();
            const [check] = await checkTargets({}, "blue", [t("dev-web-green", "/ok", server.port)], 1000);
            assert.deepEqual(check, { container: "dev-web-green", status: "RUNNING", healthy: false, reason: "it is green abc1234, not blue abc1234" });
        });

        it("a probe with no answer (timed out under load) is asked again before it counts as unhealthy", async () => {
            // CI: a loaded machine let one 2 s probe go unanswered, and the switch refused a healthy color.
            server = await startServer((_req, res, n) => {
                if (n === 1) return; // the first request never gets an answer
                res.writeHead(200);
                res.end("ok");
            });
            stub = incus();
            const [check] = await checkTargets({}, "blue", [t("dev-web-blue", "/ok", server.port)], 300);
            assert.deepEqual(check, { container: "dev-web-blue", status: "RUNNING", healthy: true, reason: "HTTP 200" });
        });

        it("a container that never answers is unhealthy after 3 probes; an HTTP error is the app's answer and is not asked again", async () => {
            let hung = 0;
            let errs = 0;
            server = await startServer((req, res) => {
                if (req.url === "/hang") {
                    hung++;
                    return;
                }
                errs++;
                res.writeHead(500);
                res.end("crashed");
            });
            stub = incus();
            const checks = await checkTargets({}, "blue", [t("dev-web-blue", "/hang", server.port), t("dev-stream-blue", "/err", server.port)], 200);
            assert.equal(checks[0].healthy, false);
            assert.match(checks[0].reason, /timed out after 200 ms/);
            assert.equal(checks[1].reason, "HTTP 500: crashed (expected 200-299)");
            assert.equal(hung, 3);
            assert.equal(errs, 1);
        });

        it("assertColorReady resolves when every container can take traffic", async () => {
            server = await app();
            stub = incus();
            await assertColorReady({}, "blue", [t("dev-web-blue", "/ok", server.port)], 1000);
            assert.deepEqual(stub.argvs(), [["incus", "query", "/1.0/instances/dev-web-blue"]], "one container: its own query");
        });

        it("assertColorReady throws a refusal naming the bad containers", async () => {
            server = await app();
            stub = incus();
            await assert.rejects(
                assertColorReady({}, "blue", [t("dev-web-blue", "/ok", server.port), t("dev-absent-blue", "/ok", await closedPort())], 1000),
                (e: Error) => {
                    assert.equal(isRefused(e), true);
                    assert.equal(e.name, "RefusedError");
                    assert.match(
                        e.message,
                        /; dev-absent-blue does not exist\. Run `pulumi up` again: it recreates dev-absent-blue before it switches, or keep bluegreen:active: green\. HAProxy was not touched\.$/,
                    );
                    assert.equal(e.message.includes("dev-web-blue"), false);
                    return true;
                },
            );
        });
    });
});
