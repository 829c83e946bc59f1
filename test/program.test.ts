// The exact resources each stack declares, under pulumi.runtime.setMocks.

import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { declareProgram, Declared } from "./helpers/mockProgram";
import { SECRET_SIG, SIG_KEY } from "../runner/secrets";

const DYNAMIC = "pulumi-nodejs:dynamic:Resource";

function shape(resources: Declared[]): string[] {
    return resources.map((r) => `${r.type} ${r.name}`).sort();
}

function byName(resources: Declared[], name: string): Declared {
    const r = resources.find((x) => x.name === name);
    assert.ok(r, `resource ${name} declared`);
    return r!;
}

describe("program (index.ts under setMocks)", function () {
    this.timeout(60_000);

    it("dev: one color, HAProxy on the host, and the switch", async () => {
        const p = await declareProgram("dev");
        assert.deepEqual(shape(p.resources), [
            "bluegreen:index:App dev",
            "bluegreen:index:ColorStack blue",
            `${DYNAMIC} backend-blue`,
            `${DYNAMIC} dev-haproxy`,
            `${DYNAMIC} dev-lock`,
            `${DYNAMIC} dev-switch`,
            `${DYNAMIC} dev-unlock`,
            `${DYNAMIC} stream-blue`,
            `${DYNAMIC} web-blue`,
        ]);
        const backend = byName(p.resources, "backend-blue").inputs;
        assert.equal(backend.name, "dev-backend-blue");
        assert.equal(backend.release, "a1b2c3d");
        assert.equal(backend.hostPort, 18110);
        assert.equal(backend.port, 8080);
        assert.equal(backend.image, "bluegreen-base");
        assert.deepEqual(backend.artifacts, { type: "dir", path: ".artifacts" });
        assert.deepEqual(backend.guard, {
            host: { placement: "host" },
            stateDir: "/var/lib/bluegreen/dev",
            adminSocket: "/var/lib/bluegreen/dev/admin.sock",
        });
        assert.equal(typeof backend.__provider, "string", "serialized provider text");

        const haproxy = byName(p.resources, "dev-haproxy").inputs;
        assert.deepEqual(haproxy.host, { placement: "host" });
        assert.equal(haproxy.layout.configPath, "/var/lib/bluegreen/dev/haproxy.cfg");
        assert.equal(haproxy.frontendPort, 18100);
        assert.deepEqual(haproxy.backendPorts, []);

        const sw = byName(p.resources, "dev-switch").inputs;
        assert.equal(sw.active, "blue");
        assert.equal(sw.release, "a1b2c3d");
        assert.equal(sw.method, "runtime");
        assert.deepEqual(
            sw.components.map((c: any) => [c.name, c.route, c.ports, c.container]),
            [
                ["backend", "/api", { blue: 18110, green: 18111 }, "dev-backend-blue"],
                ["stream", "/stream", { blue: 18120, green: 18121 }, "dev-stream-blue"],
                ["web", "/", { blue: 18130, green: 18131 }, "dev-web-blue"],
            ],
        );
        assert.deepEqual(p.outputs, {
            url: "http://127.0.0.1:18100/",
            activeColor: "blue",
            releases: { blue: "a1b2c3d" },
            containers: { blue: { backend: "dev-backend-blue", stream: "dev-stream-blue", web: "dev-web-blue" } },
        });
    });

    it("dev with both colors: six containers, green on hostPort + 1, the switch targets green", async () => {
        const p = await declareProgram("dev", {
            "bluegreen:active": "green",
            "bluegreen:colors": JSON.stringify({ blue: { release: "a1b2c3d" }, green: { release: "B4C5D6E" } }),
        });
        const containers = p.resources
            .filter((r) => r.type === DYNAMIC && /-(blue|green)$/.test(r.name))
            .map((r) => r.name)
            .sort();
        assert.deepEqual(containers, ["backend-blue", "backend-green", "stream-blue", "stream-green", "web-blue", "web-green"]);
        assert.equal(byName(p.resources, "web-green").inputs.hostPort, 18131);
        assert.equal(byName(p.resources, "web-green").inputs.release, "b4c5d6e", "releases are normalized to lowercase");
        const sw = byName(p.resources, "dev-switch").inputs;
        assert.equal(sw.active, "green");
        assert.equal(sw.release, "b4c5d6e");
        assert.equal(sw.components[2].container, "dev-web-green");
        assert.equal(p.outputs.activeColor, "green");
    });

    for (const stack of ["staging", "prod"]) {
        it(`${stack}: HAProxy inside the ${stack}-haproxy Incus instance, artifacts from the registry`, async () => {
            const p = await declareProgram(stack);
            assert.deepEqual(shape(p.resources), [
                `bluegreen:index:App ${stack}`,
                "bluegreen:index:ColorStack blue",
                `${DYNAMIC} backend-blue`,
                `${DYNAMIC} ${stack}-haproxy`,
                `${DYNAMIC} ${stack}-lock`,
                `${DYNAMIC} ${stack}-switch`,
                `${DYNAMIC} ${stack}-unlock`,
                `${DYNAMIC} stream-blue`,
                `${DYNAMIC} web-blue`,
            ]);
            const haproxy = byName(p.resources, `${stack}-haproxy`).inputs;
            assert.deepEqual(haproxy.host, { placement: "incus", instance: `${stack}-haproxy` });
            assert.equal(haproxy.layout.configPath, "/etc/haproxy/bluegreen.cfg");
            assert.equal(haproxy.layout.stateDir, "/var/lib/veza");
            const base = stack === "staging" ? 18200 : 18300;
            assert.deepEqual(haproxy.backendPorts, [base + 10, base + 11, base + 20, base + 21, base + 30, base + 31]);
            const backend = byName(p.resources, "backend-blue").inputs;
            assert.equal(backend.name, `${stack}-backend-blue`);
            assert.equal(backend.healthPath, "/api/v1/health");
            assert.equal(backend.artifacts.type, "http");
            assert.deepEqual(backend.guard.host, { placement: "incus", instance: `${stack}-haproxy` });
        });
    }

    it("the artifact token reaches every container as a Pulumi secret", async () => {
        const p = await declareProgram("staging", { "bluegreen:artifactToken": "s3cr3t-token" }, ["bluegreen:artifactToken"]);
        for (const r of p.resources.filter((x) => /-blue$/.test(x.name))) {
            assert.deepEqual(r.inputs.artifactToken, { [SIG_KEY]: SECRET_SIG, value: "s3cr3t-token" }, r.name);
        }
        assert.equal(byName(p.resources, "staging-switch").inputs.artifactToken, undefined);
    });

    it("bad config declares nothing and names the key", async () => {
        const declared: Declared[] = [];
        await assert.rejects(
            declareProgram("dev", { "bluegreen:colors": JSON.stringify({ blue: { release: "not-a-sha" } }) }, [], declared),
            /bluegreen:colors\.blue\.release: expected 7-40 hex characters/,
        );
        assert.deepEqual(declared, []);
    });

    it("a config error is a pulumi.RunError, which `pulumi up` prints as its message alone, with no stack trace", async () => {
        await assert.rejects(declareProgram("dev", { "bluegreen:bogus": "1", "bluegreen:prefix": "dev;rm" }), (e: Error) => {
            assert.ok(pulumi.RunError.isInstance(e), `expected a RunError, got ${e.name}`);
            assert.equal(
                e.message,
                "invalid stack config:\n" +
                    "  bluegreen:prefix: expected up to 30 lowercase letters, digits and hyphens, starting with a letter\n" +
                    "  bluegreen:bogus: unknown key (check the spelling against the README's config reference)\n" +
                    "Nothing was touched. Fix these keys in the stack's config (Pulumi.<stack>.yaml), then run again.",
            );
            return true;
        });
    });

    it("removing the active color is refused by validation", async () => {
        await assert.rejects(
            declareProgram("dev", { "bluegreen:colors": JSON.stringify({ green: { release: "b4c5d6e" } }) }),
            /bluegreen:colors\.blue: blue is the active color.*bluegreen:active: green/,
        );
    });
});
