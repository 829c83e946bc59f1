import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import {
    REPLACE_ON,
    expectOf,
    healthUrl,
    instanceConfig,
    liveDifferences,
    liveRollout,
    replacedKeys,
    rolloutKeys,
    rolloutReplaces,
    secretEnvFile,
} from "../../../components/release/deploy";
import { proxyDevice } from "../../../components/io/incus";
import { SECRET_ENV_LABEL, secretEnvDigest } from "../../../components/model/stateful/adoption";
import { makeTmp, removeTmp } from "../../helpers/tmp";
import { instanceJson, ok, stubRunner } from "../../helpers/runnerStub";
import { TOKEN, containerInputs as inputs, containerOutputs as outputs } from "../../helpers/containerInputs";

describe("deploy (pure parts)", () => {
    it("healthUrl is the loopback host port and health path", () => {
        assert.equal(healthUrl({ hostPort: 18131, healthPath: "/health" }), "http://127.0.0.1:18131/health");
    });

    it("instanceConfig labels the container and passes its parameters as environment", () => {
        assert.deepEqual(instanceConfig(inputs({ artifactToken: TOKEN })), {
            "environment.PORT": "8080",
            "environment.BLUEGREEN_STACK": "dev",
            "environment.BLUEGREEN_COMPONENT": "web",
            "environment.BLUEGREEN_COLOR": "green",
            "environment.BLUEGREEN_RELEASE": "def5678",
            "environment.BLUEGREEN_HEALTH_PATH": "/health",
            "user.bluegreen.managed": "true",
            "user.bluegreen.stack": "dev",
            "user.bluegreen.component": "web",
            "user.bluegreen.color": "green",
            "user.bluegreen.release": "def5678",
        });
    });

    describe("replacedKeys", () => {
        it("is empty for identical identity inputs", () => {
            assert.deepEqual(replacedKeys(outputs(inputs()), inputs()), []);
        });

        it("lists each identity input that changed, in REPLACE_ON order", () => {
            assert.deepEqual(replacedKeys(outputs(inputs()), inputs({ release: "0000000", hostPort: 18141, profiles: ["default", "x"] })), [
                "release",
                "hostPort",
                "profiles",
            ]);
            assert.deepEqual(replacedKeys(outputs(inputs()), inputs({ remote: "prod" })), ["remote"]);
            assert.deepEqual(
                replacedKeys({}, inputs()).length,
                REPLACE_ON.length - 5,
                "everything but the absent remote, node (a pool of one), member, address and parent",
            );
            assert.deepEqual(replacedKeys(outputs(inputs()), inputs({ node: 2 })), ["node"]);
        });

        it("ignores non-identity inputs", () => {
            assert.deepEqual(replacedKeys(outputs(inputs()), inputs({ health: { attempts: 1, intervalMs: 50, timeoutMs: 100 }, artifactToken: TOKEN })), []);
        });
    });

    it("instanceConfig passes the plain environment, never the secret one", () => {
        const c = instanceConfig(inputs({ env: { LOG_LEVEL: "debug" }, secretEnv: { DB_PASSWORD: "hunter2" } }));
        assert.equal(c["environment.LOG_LEVEL"], "debug");
        assert.equal(JSON.stringify(c).includes("hunter2"), false);
        assert.equal(JSON.stringify(c).includes("DB_PASSWORD"), false);
    });

    it("instanceConfig labels the secret environment with its digest only, never a value or a name", () => {
        const secretEnv = { DB_PASSWORD: "hunter2" };
        const c = instanceConfig(inputs({ secretEnv }));
        assert.equal(c[SECRET_ENV_LABEL], secretEnvDigest("dev", "dev-web-green", secretEnvFile(secretEnv)));
        assert.equal(SECRET_ENV_LABEL in instanceConfig(inputs()), false, "no label without secrets");
        assert.equal(SECRET_ENV_LABEL in instanceConfig(inputs({ secretEnv: {} })), false);
    });

    describe("liveDifferences: a live container of this stack against the one the config makes", () => {
        type I = ReturnType<typeof inputs>;
        const live = (i: I, config: Record<string, string | undefined> = {}, http = proxyDevice({ listenPort: i.hostPort, connectPort: i.port })) => ({
            name: i.name,
            status: "Running",
            config: Object.fromEntries(Object.entries({ ...instanceConfig(i), ...config }).filter(([, v]) => v !== undefined)) as Record<string, string>,
            devices: { http },
        });
        const S1 = { DB_PASSWORD: "first" };
        const S2 = { DB_PASSWORD: "second" };

        it("finds nothing in the container the same config made", () => {
            const i = inputs({ env: { A: "1" }, secretEnv: S1, node: 2 });
            assert.deepEqual(liveDifferences(live(i), i), []);
        });

        it("sees env changed, added and removed", () => {
            const was = inputs({ env: { A: "1", B: "2" } });
            assert.deepEqual(liveDifferences(live(was), inputs({ env: { A: "1", B: "3" } })), ["env"]);
            assert.deepEqual(liveDifferences(live(was), inputs({ env: { A: "1", B: "2", C: "3" } })), ["env"]);
            assert.deepEqual(liveDifferences(live(was), inputs({ env: { A: "1" } })), ["env"]);
            assert.deepEqual(liveDifferences(live(was), inputs()), ["env"]);
        });

        it("sees secrets rotated, added and removed, and a container labelled before secrets had a label", () => {
            const was = inputs({ secretEnv: S1 });
            assert.deepEqual(liveDifferences(live(was), inputs({ secretEnv: S2 })), ["secretEnv"]);
            assert.deepEqual(liveDifferences(live(inputs()), inputs({ secretEnv: S1 })), ["secretEnv"]);
            assert.deepEqual(liveDifferences(live(was), inputs()), ["secretEnv"]);
            assert.deepEqual(liveDifferences(live(was, { [SECRET_ENV_LABEL]: undefined }), was), ["secretEnv"]);
            // The digest is of this container: the same secrets in another container's label do not match.
            const other = inputs({ secretEnv: S1, name: "dev-web-blue", color: "blue", hostPort: 18130 });
            assert.deepEqual(liveDifferences(live(was, { [SECRET_ENV_LABEL]: instanceConfig(other)[SECRET_ENV_LABEL] }), was), ["secretEnv"]);
        });

        it("sees the release and every other identity input it records", () => {
            const i = inputs();
            assert.deepEqual(liveDifferences(live(inputs({ release: "0000000" })), i), ["release"]);
            assert.deepEqual(liveDifferences(live(inputs({ port: 9090 })), i), ["port"]);
            assert.deepEqual(liveDifferences(live(inputs({ healthPath: "/ready" })), i), ["healthPath"]);
            assert.deepEqual(liveDifferences(live(inputs({ node: 2 })), i), ["node"]);
            assert.deepEqual(liveDifferences(live(i, {}, proxyDevice({ listenPort: 18999, connectPort: 8080 })), i), ["hostPort"]);
            assert.deepEqual(liveDifferences({ ...live(i), devices: {} }, i), ["hostPort", "port"]);
            assert.deepEqual(liveDifferences(live(inputs({ release: "0000000", env: { X: "1" }, secretEnv: S1 })), i), ["env", "release", "secretEnv"]);
        });

        it("liveRollout records what the live container runs, so the next up still rolls the config out", () => {
            const was = inputs({ env: { A: "1" }, secretEnv: S1 });
            const now = inputs({ env: { A: "2" }, secretEnv: S2 });
            const r = liveRollout(live(was), ["env", "secretEnv"]);
            assert.deepEqual(r.env, { A: "1" });
            assert.notDeepEqual(r.secretEnv, S2);
            assert.deepEqual(rolloutKeys({ ...now, ...r }, now), ["env", "secretEnv"]);
            assert.equal(JSON.stringify(r).includes("first"), false, "no secret value is made up or copied");
            assert.deepEqual(liveRollout(live(inputs()), ["env"]), { env: {} });
            assert.deepEqual(liveRollout(live(was), []), {});
        });
    });

    it("secretEnvFile is one NAME=value line each, sorted, values as they are", () => {
        assert.equal(secretEnvFile({ B: "two words", A: "$(rm -rf /)" }), "A=$(rm -rf /)\nB=two words\n");
        assert.equal(secretEnvFile({}), "");
    });

    it("expectOf defaults to any 2xx", () => {
        assert.deepEqual(expectOf(inputs()), { status: "200-299" });
        assert.deepEqual(expectOf(inputs({ healthStatus: "200,204", healthBody: "ok" })), { status: "200,204", body: "ok" });
    });

    it("rolloutKeys sees env and secret changes; an absent map is an empty one", () => {
        assert.deepEqual(rolloutKeys(outputs(inputs()), inputs()), []);
        assert.deepEqual(rolloutKeys(outputs(inputs()), inputs({ env: {} })), [], "state written before env existed");
        assert.deepEqual(rolloutKeys(outputs(inputs({ env: { A: "1" } })), inputs({ env: { A: "2" } })), ["env"]);
        assert.deepEqual(rolloutKeys(outputs(inputs()), inputs({ secretEnv: { S: "x" } })), ["secretEnv"]);
    });

    describe("rolloutReplaces asks which color serves", () => {
        let dir: string | undefined;
        afterEach(() => {
            removeTmp(dir);
            dir = undefined;
        });
        const serving = (color: string) => {
            dir = makeTmp();
            fs.writeFileSync(path.join(dir, "active-color"), `${color}\n`);
            return { host: { placement: "host" as const }, stateDir: dir, adminSocket: path.join(dir, "absent.sock") };
        };

        it("a new env replaces the color that does not serve", async () => {
            const guard = serving("blue");
            assert.deepEqual(await rolloutReplaces(outputs(inputs({ guard })), inputs({ guard, env: { A: "1" } })), { replaces: ["env"], pending: [] });
        });

        it("the serving color keeps its env until it is redeployed or traffic moves off it", async () => {
            const guard = serving("green");
            assert.deepEqual(await rolloutReplaces(outputs(inputs({ guard })), inputs({ guard, secretEnv: { S: "x" } })), {
                replaces: [],
                pending: ["secretEnv"],
            });
        });

        it("a node placed on another member moves only while its color does not serve: a serving node stays where it runs (no delete-first of a routed node)", async () => {
            // A node rescheduled off m2 (allowReschedule), m2 back online: placement says m2 again.
            const stub = stubRunner((cmd) => ok(JSON.stringify({ ...JSON.parse(instanceJson(cmd.argv[2].split("/").pop()!, "Running")), location: "m1" })));
            try {
                const guard = serving("blue");
                const olds = outputs(inputs({ guard, color: "blue", member: "m1" }));
                assert.deepEqual(await rolloutReplaces(olds, inputs({ guard, color: "blue", member: "m2" })), { replaces: [], pending: ["member"] });
                assert.deepEqual(await rolloutReplaces(outputs(inputs({ guard, member: "m1" })), inputs({ guard, member: "m2" })), {
                    replaces: ["member"],
                    pending: [],
                });
            } finally {
                stub.restore();
            }
        });

        it("a release change replaces whatever else changed with it", async () => {
            const guard = serving("blue");
            assert.deepEqual(await rolloutReplaces(outputs(inputs({ guard })), inputs({ guard, release: "0000000", env: { A: "1" } })), {
                replaces: ["release", "env"],
                pending: [],
            });
        });
    });
});
