import assert from "node:assert/strict";
import { REPLACE_ON, healthUrl, instanceConfig, replacedKeys } from "../../../components/release/deploy";
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
            assert.deepEqual(replacedKeys({}, inputs()).length, REPLACE_ON.length - 1, "everything but the absent remote");
        });

        it("ignores non-identity inputs", () => {
            assert.deepEqual(replacedKeys(outputs(inputs()), inputs({ health: { attempts: 1, intervalMs: 50, timeoutMs: 100 }, artifactToken: TOKEN })), []);
        });
    });
});
