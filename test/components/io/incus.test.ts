import assert from "node:assert/strict";
import {
    addDeviceCmd,
    addProxyCmd,
    createCmd,
    deleteCmd,
    deleteInstance,
    execCmd,
    filePullCmd,
    filePushCmd,
    getInstance,
    listInstances,
    parseInstance,
    queryCmd,
    readInstanceFile,
    ref,
    removeDeviceCmd,
    startCmd,
} from "../../../components/io/incus";
import { INCUS_NOT_FOUND, RunnerStub, fail, instanceJson, ok, stubRunner } from "../../helpers/runnerStub";

const LOCAL = {};
const REMOTE = { remote: "prod" };

describe("incus", () => {
    it("ref prefixes the remote when there is one", () => {
        assert.equal(ref(LOCAL, "web-blue"), "web-blue");
        assert.equal(ref({ remote: undefined }, "web-blue"), "web-blue");
        assert.equal(ref(REMOTE, "web-blue"), "prod:web-blue");
    });

    describe("createCmd", () => {
        const spec = {
            image: "bluegreen-base",
            profiles: ["default", "limits"],
            config: { "environment.PORT": "8080", "user.bluegreen.managed": "true" },
            proxies: {
                http: { listenPort: 18130, connectPort: 8080 },
                "be-18110": { listenPort: 18110, connectPort: 18110, bind: "instance" as const },
            },
        };

        it("creates from the image with every profile, config and devices on stdin", () => {
            const cmd = createCmd(LOCAL, "dev-web-blue", spec);
            assert.deepEqual(cmd.argv, ["incus", "create", "bluegreen-base", "dev-web-blue", "--quiet", "--profile", "default", "--profile", "limits"]);
            assert.equal(cmd.timeoutMs, 180_000);
            assert.equal(typeof cmd.input, "string");
            assert.deepEqual(JSON.parse(cmd.input as string), {
                config: { "environment.PORT": "8080", "user.bluegreen.managed": "true" },
                devices: {
                    http: { type: "proxy", listen: "tcp:127.0.0.1:18130", connect: "tcp:127.0.0.1:8080" },
                    "be-18110": { type: "proxy", listen: "tcp:127.0.0.1:18110", connect: "tcp:127.0.0.1:18110", bind: "instance" },
                },
            });
        });

        it("names image and instance on the remote", () => {
            const cmd = createCmd(REMOTE, "prod-web-blue", { ...spec, profiles: ["default"] });
            assert.deepEqual(cmd.argv, ["incus", "create", "prod:bluegreen-base", "prod:prod-web-blue", "--quiet", "--profile", "default"]);
        });

        it("gives an instance without proxies an empty device map", () => {
            const cmd = createCmd(LOCAL, "x", { ...spec, proxies: {}, config: {} });
            assert.equal(cmd.input, '{"config":{},"devices":{}}');
        });
    });

    it("startCmd and deleteCmd", () => {
        assert.deepEqual(startCmd(LOCAL, "a"), { argv: ["incus", "start", "a", "--quiet"], timeoutMs: 180_000 });
        assert.deepEqual(startCmd(REMOTE, "a"), { argv: ["incus", "start", "prod:a", "--quiet"], timeoutMs: 180_000 });
        assert.deepEqual(deleteCmd(LOCAL, "a"), { argv: ["incus", "delete", "--force", "a"], timeoutMs: 180_000 });
        assert.deepEqual(deleteCmd(REMOTE, "a"), { argv: ["incus", "delete", "--force", "prod:a"], timeoutMs: 180_000 });
    });

    it("filePushCmd, with and without a mode", () => {
        assert.deepEqual(filePushCmd(LOCAL, "a", "/tmp/r.tar.gz", "/opt/bluegreen/release.tar.gz"), {
            argv: ["incus", "file", "push", "--create-dirs", "--quiet", "/tmp/r.tar.gz", "a/opt/bluegreen/release.tar.gz"],
            timeoutMs: 180_000,
        });
        assert.deepEqual(filePushCmd(REMOTE, "a", "/tmp/start", "/opt/bluegreen/app/start", "0755"), {
            argv: ["incus", "file", "push", "--create-dirs", "--quiet", "--mode", "0755", "/tmp/start", "prod:a/opt/bluegreen/app/start"],
            timeoutMs: 180_000,
        });
    });

    it("execCmd runs argv after --, with input and a 30 s default timeout", () => {
        assert.deepEqual(execCmd(LOCAL, "a", ["tail", "-n", "20", "/var/log/x.log"]), {
            argv: ["incus", "exec", "a", "--", "tail", "-n", "20", "/var/log/x.log"],
            input: undefined,
            timeoutMs: 30_000,
        });
        assert.deepEqual(execCmd(REMOTE, "a", ["tee", "-a", "--", "/f"], { input: "line\n", timeoutMs: 5000 }), {
            argv: ["incus", "exec", "prod:a", "--", "tee", "-a", "--", "/f"],
            input: "line\n",
            timeoutMs: 5000,
        });
    });

    it("queryCmd puts the remote before the API path", () => {
        assert.deepEqual(queryCmd(LOCAL, "/1.0/instances/a"), { argv: ["incus", "query", "/1.0/instances/a"], timeoutMs: 30_000 });
        assert.deepEqual(queryCmd(REMOTE, "/1.0/instances/a"), { argv: ["incus", "query", "prod:/1.0/instances/a"], timeoutMs: 30_000 });
    });

    it("addProxyCmd passes listen, connect and bind as key=value (no type)", () => {
        assert.deepEqual(addProxyCmd(LOCAL, "hx", "be-18110", { listenPort: 18110, connectPort: 18110, bind: "instance" }), {
            argv: ["incus", "config", "device", "add", "hx", "be-18110", "proxy", "listen=tcp:127.0.0.1:18110", "connect=tcp:127.0.0.1:18110", "bind=instance"],
            timeoutMs: 30_000,
        });
        assert.deepEqual(addProxyCmd(REMOTE, "hx", "frontend", { listenPort: 18100, connectPort: 18100 }), {
            argv: ["incus", "config", "device", "add", "prod:hx", "frontend", "proxy", "listen=tcp:127.0.0.1:18100", "connect=tcp:127.0.0.1:18100"],
            timeoutMs: 30_000,
        });
    });

    it("addDeviceCmd adds a device as Incus stores it: its type, then key=value", () => {
        assert.deepEqual(addDeviceCmd(REMOTE, "hx", "prometheus", { type: "proxy", listen: "tcp:127.0.0.1:19090", connect: "tcp:127.0.0.1:19090" }), {
            argv: ["incus", "config", "device", "add", "prod:hx", "prometheus", "proxy", "listen=tcp:127.0.0.1:19090", "connect=tcp:127.0.0.1:19090"],
            timeoutMs: 30_000,
        });
    });

    it("addProxyCmd forwards a host unix socket into the instance, root-only", () => {
        assert.deepEqual(addProxyCmd(LOCAL, "hx", "admin-sock", { listenSocket: "/var/lib/veza/prod/admin.sock", connectSocket: "/run/haproxy/admin.sock" }), {
            argv: [
                "incus",
                "config",
                "device",
                "add",
                "hx",
                "admin-sock",
                "proxy",
                "listen=unix:/var/lib/veza/prod/admin.sock",
                "connect=unix:/run/haproxy/admin.sock",
                "mode=0600",
            ],
            timeoutMs: 30_000,
        });
    });

    it("filePullCmd prints the instance's file on stdout", () => {
        assert.deepEqual(filePullCmd(LOCAL, "hx", "/var/lib/veza/active-color"), {
            argv: ["incus", "file", "pull", "hx/var/lib/veza/active-color", "-"],
            timeoutMs: 30_000,
        });
        assert.deepEqual(filePullCmd(REMOTE, "hx", "/etc/haproxy/bluegreen.cfg"), {
            argv: ["incus", "file", "pull", "prod:hx/etc/haproxy/bluegreen.cfg", "-"],
            timeoutMs: 30_000,
        });
    });

    it("removeDeviceCmd", () => {
        assert.deepEqual(removeDeviceCmd(LOCAL, "hx", "be-1"), { argv: ["incus", "config", "device", "remove", "hx", "be-1"], timeoutMs: 30_000 });
        assert.deepEqual(removeDeviceCmd(REMOTE, "hx", "be-1"), { argv: ["incus", "config", "device", "remove", "prod:hx", "be-1"], timeoutMs: 30_000 });
    });

    describe("parseInstance", () => {
        it("reads name, status, config and devices", () => {
            const info = parseInstance(
                instanceJson("dev-web-blue", "Running", { "user.bluegreen.release": "abc1234" }, { http: { type: "proxy", listen: "tcp:127.0.0.1:1" } }),
            );
            assert.deepEqual(info, {
                name: "dev-web-blue",
                status: "Running",
                config: { "user.bluegreen.release": "abc1234" },
                devices: { http: { type: "proxy", listen: "tcp:127.0.0.1:1" } },
            });
        });

        it("defaults missing fields", () => {
            assert.deepEqual(parseInstance("{}"), { name: "", status: "Unknown", config: {}, devices: {} });
        });

        it("throws on text that is not JSON", () => {
            assert.throws(() => parseInstance("Error: nope"), SyntaxError);
        });
    });

    describe("getInstance and deleteInstance", () => {
        let stub: RunnerStub | undefined;
        afterEach(() => stub?.restore());

        it("getInstance queries the instance and parses it", async () => {
            stub = stubRunner(() => ok(instanceJson("a", "Stopped")));
            const info = await getInstance(REMOTE, "a");
            assert.deepEqual(info, { name: "a", status: "Stopped", config: {}, devices: {} });
            assert.deepEqual(stub.argvs(), [["incus", "query", "prod:/1.0/instances/a"]]);
        });

        it("listInstances asks for every instance with its config, and fails when Incus cannot answer", async () => {
            stub = stubRunner(() => ok(`[${instanceJson("a", "Running", { "user.bluegreen.stack": "dev" })},${instanceJson("b", "Stopped")}]`));
            const all = await listInstances(REMOTE);
            assert.deepEqual(
                all.map((i) => [i.name, i.status, i.config]),
                [
                    ["a", "Running", { "user.bluegreen.stack": "dev" }],
                    ["b", "Stopped", {}],
                ],
            );
            assert.deepEqual(stub.argvs(), [["incus", "query", "prod:/1.0/instances?recursion=1"]]);
            stub.restore();
            stub = stubRunner(() => fail(1, "Error: connection refused"));
            await assert.rejects(listInstances(LOCAL), /cannot list the instances of the local Incus \(is incusd running/);
        });

        it("getInstance gives undefined for a missing instance", async () => {
            stub = stubRunner(() => INCUS_NOT_FOUND);
            assert.equal(await getInstance(LOCAL, "a"), undefined);
        });

        it("getInstance throws other errors with the argv and stderr", async () => {
            stub = stubRunner(() => fail(1, 'Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: no such file'));
            await assert.rejects(getInstance(REMOTE, "a"), (e: Error) => {
                assert.equal(
                    e.message,
                    "cannot read instance prod:a (is incusd running? run scripts/setup-host.sh): " +
                        '`incus query prod:/1.0/instances/a` exited 1: Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: no such file',
                );
                return true;
            });
        });

        it("deleteInstance: true when deleted, false when absent", async () => {
            stub = stubRunner(() => ok());
            assert.equal(await deleteInstance(LOCAL, "a"), true);
            assert.deepEqual(stub.argvs(), [["incus", "delete", "--force", "a"]]);
            stub.restore();
            stub = stubRunner(() => fail(1, 'Error: Failed checking instance exists "local:a": Instance not found'));
            assert.equal(await deleteInstance(LOCAL, "a"), false);
        });

        it("deleteInstance throws other errors with the argv", async () => {
            stub = stubRunner(() => fail(1, "Error: permission denied"));
            await assert.rejects(deleteInstance(REMOTE, "a"), {
                message: "cannot delete prod:a: `incus delete --force prod:a` exited 1: Error: permission denied",
            });
        });
    });
});

describe("incus volumes", () => {
    it("builds volume and snapshot commands as exact argv", async () => {
        const m = await import("../../../components/io/incus");
        assert.deepEqual(m.volumeCreateCmd(LOCAL, "default", "dev-db-data").argv, [
            "incus",
            "storage",
            "volume",
            "create",
            "default",
            "dev-db-data",
            "--quiet",
        ]);
        assert.deepEqual(m.volumeDeleteCmd(REMOTE, "fast", "dev-db-data").argv, [
            "incus",
            "storage",
            "volume",
            "delete",
            "prod:fast",
            "dev-db-data",
            "--quiet",
        ]);
        assert.deepEqual(m.snapshotCreateCmd(LOCAL, "default", "dev-db-data", "kg-1", '{"a":1}').argv, [
            "incus",
            "storage",
            "volume",
            "snapshot",
            "create",
            "default",
            "dev-db-data",
            "kg-1",
            "--no-expiry",
            "--description",
            '{"a":1}',
            "--quiet",
        ]);
        assert.deepEqual(m.snapshotRestoreCmd(LOCAL, "default", "dev-db-data", "kg-1").argv, [
            "incus",
            "storage",
            "volume",
            "snapshot",
            "restore",
            "default",
            "dev-db-data",
            "kg-1",
            "--quiet",
        ]);
        assert.deepEqual(m.snapshotDeleteCmd(LOCAL, "default", "dev-db-data", "kg-1").argv, [
            "incus",
            "storage",
            "volume",
            "snapshot",
            "delete",
            "default",
            "dev-db-data",
            "kg-1",
            "--quiet",
        ]);
        assert.deepEqual(m.stopCmd(LOCAL, "dev-db", 10).argv, ["incus", "stop", "dev-db", "--timeout", "10", "--force", "--quiet"]);
    });

    it("mounts disks in the create call, and reads snapshot names from incus query", async () => {
        const m = await import("../../../components/io/incus");
        const cmd = m.createCmd(LOCAL, "dev-db", {
            image: "i",
            profiles: ["default"],
            config: {},
            proxies: {},
            disks: { "vol-data": { pool: "default", volume: "dev-db-data", path: "/data" } },
        });
        assert.deepEqual(JSON.parse(String(cmd.input)).devices, { "vol-data": { type: "disk", pool: "default", source: "dev-db-data", path: "/data" } });
        assert.equal(m.volumePath("default", "dev-db-data", true), "/1.0/storage-pools/default/volumes/custom/dev-db-data/snapshots");
        assert.deepEqual(m.parseSnapshotNames('["/1.0/storage-pools/default/volumes/custom/dev-db-data/snapshots/kg-20261203t081500z-1a1a1a1"]'), [
            "kg-20261203t081500z-1a1a1a1",
        ]);
        assert.deepEqual(m.parseSnapshotNames("[]"), []);
        assert.throws(() => m.parseSnapshotNames("{}"), /expected a list of snapshot URLs/);
    });

    it("volumeSnapshots reads none for a missing volume and fails on any other error", async () => {
        const m = await import("../../../components/io/incus");
        let stub = stubRunner(() => fail(1, "Error: Storage pool volume not found\n"));
        try {
            assert.deepEqual(await m.volumeSnapshots(LOCAL, "default", "dev-db-data"), []);
            assert.equal(await m.volumeExists(LOCAL, "default", "dev-db-data"), false);
        } finally {
            stub.restore();
        }
        stub = stubRunner(() => fail(1, "Error: connection refused\n"));
        try {
            await assert.rejects(m.volumeSnapshots(LOCAL, "default", "dev-db-data"), /cannot list snapshots of volume dev-db-data/);
        } finally {
            stub.restore();
        }
    });
});

describe("incus reads over a flaky connection", () => {
    let stub: RunnerStub | undefined;
    afterEach(() => stub?.restore());

    it("readInstanceFile retries a dropped connection (`Error: EOF`) and returns the file", async () => {
        stub = stubRunner((_c, n) => (n < 3 ? fail(1, "Error: EOF\n") : ok("owner-1")));
        assert.equal(await readInstanceFile(REMOTE, "h", "/var/lib/x/switch-owner"), "owner-1");
        assert.equal(stub.calls.length, 3);
        assert.deepEqual(stub.argvs()[2], ["incus", "file", "pull", "prod:h/var/lib/x/switch-owner", "-"]);
    });

    it("getInstance retries a reset connection; a missing instance is not retried", async () => {
        stub = stubRunner((_c, n) => (n === 1 ? fail(1, "Error: read tcp 10.0.0.1:443: connection reset by peer") : ok(instanceJson("a", "Running"))));
        assert.equal((await getInstance(REMOTE, "a"))?.status, "Running");
        assert.equal(stub.calls.length, 2);
        stub.restore();
        stub = stubRunner(() => INCUS_NOT_FOUND);
        assert.equal(await getInstance(REMOTE, "a"), undefined);
        assert.equal(stub.calls.length, 1);
    });

    it("gives up after three tries, with the last error", async () => {
        stub = stubRunner(() => fail(1, "Error: EOF"));
        await assert.rejects(readInstanceFile(REMOTE, "h", "/f"), /cannot read \/f in prod:h: `incus file pull prod:h\/f -` exited 1: Error: EOF/);
        assert.equal(stub.calls.length, 3);
    });

    it("does not retry an error that is not the connection's", async () => {
        stub = stubRunner(() => fail(1, "Error: permission denied"));
        await assert.rejects(readInstanceFile(REMOTE, "h", "/f"), /permission denied/);
        assert.equal(stub.calls.length, 1);
    });
});
