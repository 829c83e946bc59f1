import assert from "node:assert/strict";
import { isRefused } from "../../../components/model/errors";
import { ContainerCheck, assertColorReady, checkTargets, precheckRefusal } from "../../../components/release/readiness";
import { TestServer, closedPort, startServer } from "../../helpers/httpServer";
import { INCUS_NOT_FOUND, RunnerStub, instanceJson, ok, stubRunner } from "../../helpers/runnerStub";

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

        /** Incus answers: `absent` does not exist, `stopped` is Stopped, everything else Running. */
        function incus(): RunnerStub {
            return stubRunner((cmd) => {
                const name = cmd.argv[2].split("/").pop()!;
                if (name === "dev-absent-blue") return INCUS_NOT_FOUND;
                return ok(instanceJson(name, name === "dev-stopped-blue" ? "Stopped" : "Running"));
            });
        }

        /** /ok answers release abc1234, /old answers def5678, /err answers 500. */
        async function app(): Promise<TestServer> {
            return startServer((req, res) => {
                if (req.url === "/err") {
                    res.writeHead(500);
                    res.end("crashed");
                    return;
                }
                res.writeHead(200, { "x-release": req.url === "/old" ? "def5678" : "abc1234", "x-color": "blue" });
                res.end("ok");
            });
        }

        it("asks Incus only about containers whose health check fails, to say why", async () => {
            server = await app();
            stub = incus();
            const dead = await closedPort();
            const t = (container: string, healthPath: string, port = server!.port) => ({ container, port, healthPath, release: "abc1234" });
            const checks = await checkTargets(
                { remote: "prod" },
                "blue",
                [
                    t("dev-absent-blue", "/ok", dead),
                    t("dev-stopped-blue", "/ok", dead),
                    t("dev-web-blue", "/ok"),
                    t("dev-backend-blue", "/old"),
                    t("dev-stream-blue", "/err"),
                ],
                1000,
            );
            assert.deepEqual(checks, [
                { container: "dev-absent-blue", status: "ABSENT", healthy: false, reason: "absent" },
                { container: "dev-stopped-blue", status: "STOPPED", healthy: false, reason: "STOPPED" },
                { container: "dev-web-blue", status: "RUNNING", healthy: true, reason: "HTTP 200" },
                { container: "dev-backend-blue", status: "RUNNING", healthy: false, reason: "serves release def5678, expected abc1234" },
                { container: "dev-stream-blue", status: "RUNNING", healthy: false, reason: "HTTP 500: crashed" },
            ]);
            // A healthy answer through the proxy device proves the container exists and runs.
            assert.deepEqual(
                stub
                    .argvs()
                    .map((a) => a.join(" "))
                    .sort(),
                [
                    "incus query prod:/1.0/instances/dev-absent-blue",
                    "incus query prod:/1.0/instances/dev-backend-blue",
                    "incus query prod:/1.0/instances/dev-stopped-blue",
                    "incus query prod:/1.0/instances/dev-stream-blue",
                ],
            );
            assert.deepEqual([...server.requests].sort(), ["/err", "/ok", "/old"]);
        });

        it("a healthy answer from the other color is not the target container", async () => {
            server = await app(); // answers x-color: blue
            stub = incus();
            const [check] = await checkTargets({}, "green", [{ container: "dev-web-green", port: server.port, healthPath: "/ok", release: "abc1234" }], 1000);
            assert.deepEqual(check, { container: "dev-web-green", status: "RUNNING", healthy: false, reason: "answers as blue, not green" });
        });

        it("assertColorReady resolves when every container can take traffic", async () => {
            server = await app();
            stub = incus();
            await assertColorReady({}, "blue", [{ container: "dev-web-blue", port: server.port, healthPath: "/ok", release: "abc1234" }], 1000);
            assert.deepEqual(stub.argvs(), [], "healthy: Incus is not asked");
        });

        it("assertColorReady throws a refusal naming the bad containers", async () => {
            server = await app();
            stub = incus();
            await assert.rejects(
                assertColorReady(
                    {},
                    "blue",
                    [
                        { container: "dev-web-blue", port: server.port, healthPath: "/ok", release: "abc1234" },
                        { container: "dev-absent-blue", port: await closedPort(), healthPath: "/ok", release: "abc1234" },
                    ],
                    1000,
                ),
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
