import assert from "node:assert/strict";
import { ServingGuard } from "../../components/cleanup";
import { colorContainerInputs } from "../../components/colorStack";
import { stackConfig } from "../helpers/stackConfig";

const GUARD: ServingGuard = { host: { placement: "host" }, stateDir: "/var/lib/bluegreen/dev", adminSocket: "/var/lib/bluegreen/dev/admin.sock" };

describe("colorStack", () => {
    describe("colorContainerInputs", () => {
        it("gives blue one container per component on hostPort", () => {
            const config = stackConfig();
            assert.deepEqual(colorContainerInputs(config, "blue", "abc1234", GUARD), [
                {
                    name: "dev-backend-blue",
                    stack: "dev",
                    component: "backend",
                    color: "blue",
                    release: "abc1234",
                    port: 8080,
                    hostPort: 18110,
                    healthPath: "/health",
                    image: "bluegreen-base",
                    profiles: ["default"],
                    artifacts: { type: "dir", path: ".artifacts" },
                    health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
                    guard: GUARD,
                },
                {
                    name: "dev-stream-blue",
                    stack: "dev",
                    component: "stream",
                    color: "blue",
                    release: "abc1234",
                    port: 8080,
                    hostPort: 18120,
                    healthPath: "/health",
                    image: "bluegreen-base",
                    profiles: ["default"],
                    artifacts: { type: "dir", path: ".artifacts" },
                    health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
                    guard: GUARD,
                },
                {
                    name: "dev-web-blue",
                    stack: "dev",
                    component: "web",
                    color: "blue",
                    release: "abc1234",
                    port: 8080,
                    hostPort: 18130,
                    healthPath: "/health",
                    image: "bluegreen-base",
                    profiles: ["default"],
                    artifacts: { type: "dir", path: ".artifacts" },
                    health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
                    guard: GUARD,
                },
            ]);
        });

        it("gives green hostPort + 1 and its own names and release", () => {
            const config = stackConfig({ colors: { blue: { release: "abc1234" }, green: { release: "def5678" } } });
            const green = colorContainerInputs(config, "green", "def5678", GUARD);
            assert.deepEqual(
                green.map((i) => [i.name, i.color, i.release, i.hostPort]),
                [
                    ["dev-backend-green", "green", "def5678", 18111],
                    ["dev-stream-green", "green", "def5678", 18121],
                    ["dev-web-green", "green", "def5678", 18131],
                ],
            );
        });

        it("carries component settings, the prefix and incus settings", () => {
            const config = stackConfig({
                prefix: "acme-",
                components: { api: { hostPort: 18200, route: "/api", port: 3000, healthPath: "/ready" } },
                incus: { image: "my-image", profiles: ["default", "small"] },
            });
            const [api] = colorContainerInputs(config, "blue", "abc1234", GUARD);
            assert.equal(api.name, "acme-api-blue");
            assert.equal(api.port, 3000);
            assert.equal(api.healthPath, "/ready");
            assert.equal(api.image, "my-image");
            assert.deepEqual(api.profiles, ["default", "small"]);
        });

        it("has a remote only when one is configured", () => {
            const local = colorContainerInputs(stackConfig(), "blue", "abc1234", GUARD);
            assert.ok(local.every((i) => !("remote" in i)));
            const remote = colorContainerInputs(stackConfig({ incus: { remote: "prod" } }), "blue", "abc1234", GUARD);
            assert.deepEqual(
                remote.map((i) => i.remote),
                ["prod", "prod", "prod"],
            );
        });

        it("never carries a token", () => {
            assert.ok(colorContainerInputs(stackConfig(), "blue", "abc1234", GUARD).every((i) => !("artifactToken" in i)));
        });
    });
});
