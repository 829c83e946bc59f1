import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { statefulProvider } from "../../../components/providers/stateful";
import { statefulInputs, statefulOutputs } from "../../helpers/statefulInputs";
import { TestServer, closedPort, reply, startServer } from "../../helpers/httpServer";
import { quietProgress } from "../../helpers/quiet";
import { RunnerStub, ok, stubRunner } from "../../helpers/runnerStub";
import { makeTmp, removeTmp } from "../../helpers/tmp";

// Issue 20, item 2: a stateful service's pool, prefix (its names) or remote never change by
// replacement: that would start it on new, empty volumes, or delete the data with deleteVolumes.
describe("statefulProvider", () => {
    quietProgress();

    describe("check", () => {
        const olds = statefulInputs();

        it("refuses moving the service to another pool, naming the migration, before anything is touched", async () => {
            const r = await statefulProvider.check!(olds, statefulInputs({ pool: "default" }));
            assert.deepEqual(
                r.failures?.map((f) => f.property),
                ["pool"],
            );
            assert.match(r.failures![0].reason, /pool bluegreen-btrfs to default/);
            assert.match(r.failures![0].reason, /incus storage volume move bluegreen-btrfs\/dev-db-data default\/dev-db-data/);
            assert.match(r.failures![0].reason, /Nothing was touched/);
        });

        it("refuses a new prefix (new container and volume names) and a new incus.remote alike", async () => {
            const renamed = await statefulProvider.check!(
                olds,
                statefulInputs({ name: "prod-db", volumes: [{ name: "data", volume: "prod-db-data", path: "/var/lib/data" }] }),
            );
            assert.deepEqual(
                renamed.failures?.map((f) => f.property),
                ["name"],
            );
            assert.match(renamed.failures![0].reason, /incus storage volume move bluegreen-btrfs\/dev-db-data bluegreen-btrfs\/prod-db-data/);
            const remote = await statefulProvider.check!(olds, statefulInputs({ remote: "far" }));
            assert.deepEqual(
                remote.failures?.map((f) => f.property),
                ["remote"],
            );
            assert.match(remote.failures![0].reason, /incus storage volume move bluegreen-btrfs\/dev-db-data far:bluegreen-btrfs\/dev-db-data/);
        });

        it("accepts the same place, and any place for a new service", async () => {
            assert.deepEqual((await statefulProvider.check!(olds, statefulInputs({ env: { A: "b" } }))).failures, []);
            for (const none of [undefined, {}]) {
                const fresh = await statefulProvider.check!(none as any, statefulInputs({ pool: "default" }));
                assert.deepEqual(
                    fresh.failures?.filter((f) => f.property !== "release"),
                    [],
                );
            }
        });
    });

    describe("diff", () => {
        it("never asks for a replacement, and a forced one (pulumi up --replace) creates first", async () => {
            const i = statefulInputs({ hostPort: await closedPort() });
            const d = await statefulProvider.diff!("dev-db", statefulOutputs(i), { ...i, pool: "default" });
            assert.deepEqual(d.replaces, []);
            assert.equal(d.deleteBeforeReplace, false);
        });
    });

    describe("diff of a healthy service with config unchanged", () => {
        let dir: string;
        let server: TestServer;
        before(async () => (server = await startServer(reply(200, {}, "ok"))));
        after(() => server.close());
        beforeEach(() => (dir = makeTmp("bluegreen-stateful-")));
        afterEach(() => removeTmp(dir));

        it("is no change, unless an upgrade record says a run was killed: then up resumes it", async () => {
            const i = statefulInputs({ hostPort: server.port, stateDir: dir });
            assert.equal((await statefulProvider.diff!("dev-db", statefulOutputs(i), i)).changes, false);
            fs.mkdirSync(path.join(dir, "stateful", "db"), { recursive: true });
            const record = { service: "db", attempted: "2b2b2b2", from: "1a1a1a1", lastGood: "1a1a1a1", time: "2026-12-03T08:15:00.000Z" };
            fs.writeFileSync(path.join(dir, "stateful", "db", "upgrade.json"), JSON.stringify(record));
            assert.equal((await statefulProvider.diff!("dev-db", statefulOutputs(i), i)).changes, true);
        });
    });

    describe("delete", () => {
        let dir: string;
        let stub: RunnerStub | undefined;
        beforeEach(() => (dir = makeTmp("bluegreen-stateful-")));
        afterEach(() => {
            stub?.restore();
            stub = undefined;
            removeTmp(dir);
        });

        it("the delete half of a replacement deletes nothing, deleteVolumes or not: another incarnation owns the service", async () => {
            const i = statefulInputs({ stateDir: dir, deleteVolumes: true });
            fs.mkdirSync(path.join(dir, "stateful", "db"), { recursive: true });
            fs.writeFileSync(path.join(dir, "stateful", "db", "owner"), "bbbbbbbbbbbbbbbb\n");
            stub = stubRunner(() => ok("[]"));
            await statefulProvider.delete!("dev-db", statefulOutputs(i, { owner: "aaaaaaaaaaaaaaaa" } as any));
            assert.deepEqual(stub.argvs(), []);
        });

        it("a removal by the owner deletes the container, and the volumes only with deleteVolumes", async () => {
            const i = statefulInputs({ stateDir: dir, deleteVolumes: true });
            fs.mkdirSync(path.join(dir, "stateful", "db"), { recursive: true });
            fs.writeFileSync(path.join(dir, "stateful", "db", "owner"), "aaaaaaaaaaaaaaaa\n");
            stub = stubRunner(() => ok("[]"));
            await statefulProvider.delete!("dev-db", statefulOutputs(i, { owner: "aaaaaaaaaaaaaaaa" } as any));
            const argvs = stub.argvs().map((a) => a.join(" "));
            assert.ok(argvs.includes("incus delete --force dev-db"), argvs.join("\n"));
            assert.ok(argvs.includes("incus storage volume delete bluegreen-btrfs dev-db-data --quiet"), argvs.join("\n"));
        });
    });
});
