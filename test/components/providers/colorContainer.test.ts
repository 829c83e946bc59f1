import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { dirStore, storeCacheDir } from "../../../components/io/artifacts";
import { colorContainerProvider } from "../../../components/providers/colorContainer";
import { ColorContainerInputs, ColorContainerOutputs } from "../../../components/release/deploy";
import { finishDeployLock } from "../../../components/release/safety/lock";
import { TOKEN, containerInputs as inputs, containerOutputs as outputs } from "../../helpers/containerInputs";
import { TestServer, closedPort, reply, startServer } from "../../helpers/httpServer";
import { quietProgress } from "../../helpers/quiet";
import { INCUS_NOT_FOUND, RunnerStub, fail, instanceJson, ok, stubRunner } from "../../helpers/runnerStub";
import { makeTmp, removeTmp } from "../../helpers/tmp";

describe("colorContainer", () => {
    quietProgress();

    describe("provider.check", () => {
        // def5678 of web is published in a store of its own; the cache is private too.
        let store: string;
        let savedCache: string | undefined;
        const published = (over: Partial<ColorContainerInputs> = {}) => inputs({ artifacts: { type: "dir", path: store }, ...over });
        before(async () => {
            store = makeTmp("bluegreen-store-");
            savedCache = process.env.BLUEGREEN_ARTIFACT_CACHE;
            process.env.BLUEGREEN_ARTIFACT_CACHE = path.join(store, ".cache");
            await dirStore(store).publish({ component: "web", release: "def5678" }, Buffer.from("tarball"));
        });
        after(() => {
            if (savedCache === undefined) delete process.env.BLUEGREEN_ARTIFACT_CACHE;
            else process.env.BLUEGREEN_ARTIFACT_CACHE = savedCache;
            removeTmp(store);
        });
        it("accepts valid inputs and returns them unchanged", async () => {
            const news = published();
            const r = await colorContainerProvider.check!(undefined as any, news);
            assert.deepEqual(r, { inputs: news, failures: [] });
        });

        it("reports a bad name, color and release", async () => {
            const r = await colorContainerProvider.check!(undefined as any, inputs({ name: "Web_1", color: "red" as any, release: "ABCDEF1" }));
            assert.deepEqual(r.failures, [
                { property: "name", reason: "expected a valid Incus instance name" },
                { property: "color", reason: "expected blue or green" },
                { property: "release", reason: "expected 7-40 lowercase hex characters" },
            ]);
        });

        it("reports missing name and release, and a name over 63 characters", async () => {
            const r = await colorContainerProvider.check!(undefined as any, { ...published(), name: undefined, release: undefined } as any);
            assert.deepEqual(
                r.failures!.map((f) => f.property),
                ["name", "release"],
            );
            const long = await colorContainerProvider.check!(undefined as any, published({ name: "a".repeat(64) }));
            assert.deepEqual(long.failures, [{ property: "name", reason: "expected a valid Incus instance name" }]);
            const max = await colorContainerProvider.check!(undefined as any, published({ name: "a".repeat(63) }));
            assert.deepEqual(max.failures, []);
        });

        it("refuses a release that was never published, before anything is deleted, naming what to do", async () => {
            const r = await colorContainerProvider.check!(outputs(published({ release: "def5678" })), published({ release: "0badbad" }));
            assert.deepEqual(
                r.failures?.map((f) => f.property),
                ["release"],
            );
            assert.match(r.failures![0].reason, /^release 0badbad of web is not in artifact directory .*; publish it first .*Nothing was touched\.$/);
        });

        it("refuses a published release whose checksum no longer matches", async () => {
            await dirStore(store).publish({ component: "web", release: "badc0de" }, Buffer.from("good"));
            fs.writeFileSync(path.join(store, "web", "badc0de", "web-badc0de.tar.gz"), "tampered");
            const r = await colorContainerProvider.check!(undefined as any, published({ release: "badc0de" }));
            assert.match(r.failures![0].reason, /checksum mismatch for web-badc0de\.tar\.gz/);
        });

        it("fetches into this host's cache, so the create after a delete does not need the store", async () => {
            await colorContainerProvider.check!(undefined as any, published());
            const cached = path.join(storeCacheDir(dirStore(store).identity, path.join(store, ".cache")), "web", "def5678", "web-def5678.tar.gz");
            assert.equal(fs.readFileSync(cached, "utf8"), "tarball");
        });

        it("does not fetch again when the release did not change", async () => {
            const gone = inputs({ artifacts: { type: "dir", path: path.join(store, "nowhere") } });
            const r = await colorContainerProvider.check!(outputs(gone), gone);
            assert.deepEqual(r.failures, []);
        });
    });

    describe("provider.diff", () => {
        // The container answers healthily on its loopback port unless a test says otherwise.
        let server: TestServer;
        before(async () => {
            server = await startServer(reply(200, { "x-release": "def5678" }, "ok"));
        });
        after(async () => server.close());
        const live = (over: Partial<ColorContainerInputs> = {}) => inputs({ hostPort: server.port, ...over });
        const diff = (olds: ColorContainerOutputs, news: ColorContainerInputs) => colorContainerProvider.diff!("dev-web-green", olds, news);

        it("replaces, deleting first, when the release changes", async () => {
            assert.deepEqual(await diff(outputs(live()), live({ release: "0000000" })), {
                changes: true,
                replaces: ["release"],
                deleteBeforeReplace: true,
            });
        });

        it("updates in place when only health settings change", async () => {
            assert.deepEqual(await diff(outputs(live()), live({ health: { attempts: 5, intervalMs: 1000, timeoutMs: 2000 } })), {
                changes: true,
                replaces: [],
                deleteBeforeReplace: true,
            });
        });

        it("updates in place when the artifact store or the guard changes", async () => {
            assert.deepEqual((await diff(outputs(live()), live({ artifacts: { type: "http", url: "https://forge.example/generic" } }))).replaces, []);
            assert.equal((await diff(outputs(live()), live({ artifacts: { type: "http", url: "https://forge.example/generic" } }))).changes, true);
            const guard = { ...inputs().guard, stateDir: "/elsewhere" };
            assert.equal((await diff(outputs(live()), live({ guard }))).changes, true);
        });

        it("has no changes for identical inputs", async () => {
            assert.deepEqual(await diff(outputs(live()), live()), { changes: false, replaces: [], deleteBeforeReplace: true });
        });

        it("has changes when the container was unhealthy, so the next up probes it again", async () => {
            assert.deepEqual(await diff(outputs(live(), false), live()), { changes: true, replaces: [], deleteBeforeReplace: true });
        });

        it("never makes a difference of the artifactToken", async () => {
            assert.deepEqual(await diff(outputs(live()), live({ artifactToken: TOKEN })), { changes: false, replaces: [], deleteBeforeReplace: true });
            const olds = { ...outputs(live()), artifactToken: "old-token" } as ColorContainerOutputs;
            assert.deepEqual(await diff(olds, live({ artifactToken: TOKEN })), { changes: false, replaces: [], deleteBeforeReplace: true });
        });

        it("has changes when the container does not answer live, so a plain up heals it without --refresh", async () => {
            const port = await closedPort();
            assert.deepEqual(await diff(outputs(inputs({ hostPort: port })), inputs({ hostPort: port })), {
                changes: true,
                replaces: [],
                deleteBeforeReplace: true,
            });
        });

        it("has changes when state last saw the container stopped", async () => {
            assert.deepEqual(await diff({ ...outputs(live()), status: "Stopped" }, live()), { changes: true, replaces: [], deleteBeforeReplace: true });
        });
    });

    describe("provider.update", () => {
        let server: TestServer | undefined;
        let stub: RunnerStub | undefined;
        afterEach(async () => {
            stub?.restore();
            await server?.close();
            server = stub = undefined;
        });

        it("keeps the artifactToken out of the outputs, without touching anything when healthy", async () => {
            server = await startServer(reply(200, { "x-release": "def5678" }, "ok"));
            stub = stubRunner(() => assert.fail("update of a healthy container ran a command"));
            const news = inputs({ hostPort: server.port, artifactToken: TOKEN, health: { attempts: 5, intervalMs: 1000, timeoutMs: 2000 } });
            const r = await colorContainerProvider.update!("dev-web-green", outputs(inputs()), news);
            assert.deepEqual(r.outs, outputs(news));
            assert.equal("artifactToken" in r.outs, false);
            assert.equal(JSON.stringify(r).includes(TOKEN), false);
        });

        it("probes a previously unhealthy container once and passes when it recovered", async () => {
            server = await startServer((_req, res) => {
                res.writeHead(200, { "x-release": "def5678" });
                res.end("ok");
            });
            const news = inputs({ hostPort: server.port, artifactToken: TOKEN });
            const r = await colorContainerProvider.update!("dev-web-green", outputs(news, false), news);
            assert.equal(r.outs.healthy, true);
            assert.equal(JSON.stringify(r).includes(TOKEN), false);
            assert.deepEqual(server.requests, ["/health"]);
        });

        it("fails with the container kept when it is still unhealthy, without the token", async () => {
            server = await startServer((_req, res) => {
                res.writeHead(500);
                res.end("still broken");
            });
            const log = Array.from({ length: 25 }, (_, n) => `log line ${n + 1}`);
            const labels = { "user.bluegreen.managed": "true", "user.bluegreen.stack": "dev", "user.bluegreen.release": "def5678" };
            stub = stubRunner((cmd) => (cmd.argv[1] === "query" ? ok(instanceJson("dev-web-green", "Running", labels)) : ok(`${log.join("\n")}\n`)));
            const news = inputs({ hostPort: server.port, artifactToken: TOKEN });
            await assert.rejects(colorContainerProvider.update!("dev-web-green", outputs(news, false), news), (e: any) => {
                assert.equal(e.name, "InitError");
                assert.equal(e.id, "dev-web-green");
                assert.match(
                    e.message,
                    /^dev-web-green stayed unhealthy after 1 health checks of http:\/\/127\.0\.0\.1:\d+\/health: HTTP 500: still broken \(expected 200-299\)\. /,
                );
                assert.ok(e.message.endsWith(`--- last lines of /var/log/bluegreen-app.log ---\n${log.slice(5).join("\n")}`), "the last 20 lines");
                assert.equal(e.properties.healthy, false);
                assert.equal(JSON.stringify(e.properties).includes(TOKEN), false);
                return true;
            });
            assert.deepEqual(stub.argvs(), [
                ["incus", "query", "/1.0/instances/dev-web-green"],
                ["incus", "file", "pull", "dev-web-green/var/log/bluegreen-app.log", "-"],
            ]);
            assert.equal(server!.requests.length, 1, "one probe: a container kept for forensics does not slow every up");
        });
    });

    describe("provider.update heals what it finds", () => {
        let server: TestServer | undefined;
        let stub: RunnerStub | undefined;
        afterEach(async () => {
            stub?.restore();
            await server?.close();
            server = stub = undefined;
        });
        const labels = { "user.bluegreen.managed": "true", "user.bluegreen.stack": "dev", "user.bluegreen.release": "def5678" };

        it("starts a stopped container and waits the full health wait for it", async () => {
            let started = false;
            let probesAfterStart = 0;
            server = await startServer((_req, res) => {
                if (started) probesAfterStart++;
                res.writeHead(started && probesAfterStart >= 3 ? 200 : 503, { "x-release": "def5678" });
                res.end("");
            });
            stub = stubRunner((cmd) => {
                if (cmd.argv[1] === "query") return ok(instanceJson("dev-web-green", "Stopped", labels));
                if (cmd.argv[1] === "start") started = true;
                return ok();
            });
            const news = inputs({ hostPort: server.port, health: { attempts: 10, intervalMs: 10, timeoutMs: 500 } });
            const r = await colorContainerProvider.update!("dev-web-green", { ...outputs(news), status: "Stopped", healthy: false }, news);
            assert.equal(r.outs.healthy, true);
            assert.equal(r.outs.status, "Running");
            assert.deepEqual(stub.argvs(), [
                ["incus", "query", "/1.0/instances/dev-web-green"],
                ["incus", "start", "dev-web-green", "--quiet"],
            ]);
            assert.equal(probesAfterStart, 3, "probed until healthy, not once");
        });

        it("keeps a started container that stays unhealthy, naming it, after every attempt", async () => {
            server = await startServer(reply(500, {}, "broken"));
            stub = stubRunner((cmd) => (cmd.argv[1] === "query" ? ok(instanceJson("dev-web-green", "Stopped", labels)) : ok("")));
            const news = inputs({ hostPort: server.port, health: { attempts: 3, intervalMs: 10, timeoutMs: 500 } });
            await assert.rejects(colorContainerProvider.update!("dev-web-green", { ...outputs(news), status: "Stopped" }, news), (e: any) => {
                assert.equal(e.id, "dev-web-green");
                assert.match(e.message, /^dev-web-green stayed unhealthy after 3 health checks .*kept for forensics/s);
                assert.match(e.message, /its log and HAProxy's: npm run local -- logs --stack \S+ --color green/);
                return true;
            });
        });

        it("a container that cannot start is kept, with the next step", async () => {
            const port = await closedPort();
            stub = stubRunner((cmd) => (cmd.argv[1] === "query" ? ok(instanceJson("dev-web-green", "Stopped", labels)) : fail(1, "Error: no space left")));
            const news = inputs({ hostPort: port });
            await assert.rejects(colorContainerProvider.update!("dev-web-green", { ...outputs(news), status: "Stopped" }, news), (e: any) => {
                assert.equal(e.name, "InitError");
                assert.equal(e.properties.status, "Stopped");
                assert.match(e.message, /cannot start dev-web-green: .*no space left.*kept for forensics.*run pulumi up again once it can start/s);
                return true;
            });
        });
    });

    describe("provider.read and provider.delete", () => {
        let stub: RunnerStub | undefined;
        let dir: string | undefined;
        afterEach(() => {
            stub?.restore();
            removeTmp(dir);
            stub = dir = undefined;
        });

        it("read gives an empty id for an instance that is gone", async () => {
            stub = stubRunner(() => INCUS_NOT_FOUND);
            assert.deepEqual(await colorContainerProvider.read!("dev-web-green", outputs(inputs({ remote: "prod" }))), { id: "" });
            assert.deepEqual(stub.argvs(), [["incus", "query", "prod:/1.0/instances/dev-web-green"]]);
        });

        it("delete refuses while the color is active, is a no-op for a container already gone, and deletes otherwise", async () => {
            dir = makeTmp();
            const guard = { host: { placement: "host" as const }, stateDir: dir, adminSocket: path.join(dir, "admin.sock") };
            fs.writeFileSync(path.join(dir, "active-color"), "green\n");
            let exists = true;
            stub = stubRunner((cmd) =>
                cmd.argv[0] === "socat"
                    ? fail(1, "No such file or directory")
                    : cmd.argv[1] === "query"
                      ? exists
                          ? ok(instanceJson("dev-web-green", "Running"))
                          : INCUS_NOT_FOUND
                      : ok(),
            );
            await assert.rejects(colorContainerProvider.delete!("dev-web-green", outputs(inputs({ guard }))), { name: "RefusedError" });
            assert.equal(
                stub.calls.some((c) => c.argv[1] === "delete"),
                false,
                "nothing deleted",
            );

            // Already gone (deleted by hand): a no-op, whatever serves.
            exists = false;
            await colorContainerProvider.delete!("dev-web-green", outputs(inputs({ guard })));
            assert.equal(
                stub.calls.some((c) => c.argv[1] === "delete"),
                false,
                "nothing deleted",
            );

            exists = true;
            fs.writeFileSync(path.join(dir, "active-color"), "blue\n");
            await colorContainerProvider.delete!("dev-web-green", outputs(inputs({ guard })));
            assert.deepEqual(
                stub.argvs().filter((a) => a[0] === "incus" && a[1] !== "query"),
                [["incus", "delete", "--force", "dev-web-green"]],
            );
            // Under the stack's deploy lock, kept as a destroy keeps it until its last delete.
            assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "lock.json"), "utf8")).pid, process.pid);
            await finishDeployLock({ host: guard.host, stateDir: dir, stack: "dev" });
            assert.equal(fs.existsSync(path.join(dir, "lock.json")), false);
        });
    });
});
