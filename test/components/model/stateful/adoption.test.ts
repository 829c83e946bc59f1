import assert from "node:assert/strict";
import * as crypto from "crypto";
import {
    LiveFinding,
    LiveInstance,
    SECRET_ENV_LABEL,
    adoptFromEnv,
    adoptionNotice,
    secretEnvDigest,
    stackInstances,
    stateLossRefusal,
} from "../../../../components/model/stateful/adoption";
import { ConfigError } from "../../../../components/model/config";

const labels = (stack: string, extra: Record<string, string> = {}) => ({ "user.bluegreen.managed": "true", "user.bluegreen.stack": stack, ...extra });

describe("adoption (pure parts)", () => {
    describe("stackInstances: what counts as this stack's", () => {
        it("keeps only instances bluegreen labelled with this very stack, sorted by name", () => {
            const all: LiveInstance[] = [
                { name: "dev-web-green", status: "Stopped", config: labels("dev", { "user.bluegreen.release": "abc1234" }) },
                { name: "dev-web-blue", status: "Running", config: labels("dev", { "user.bluegreen.release": "abc1234" }) },
                { name: "dev-haproxy", status: "Running", config: labels("dev", { "user.bluegreen.role": "haproxy" }) },
                // Another stack of the same host, an unmanaged instance, a label without `managed`.
                { name: "prod-web-blue", status: "Running", config: labels("prod") },
                { name: "dev-web-blue-old", status: "Running", config: { "user.bluegreen.stack": "dev" } },
                { name: "hand-made", status: "Running", config: {} },
                { name: "devx-web-blue", status: "Running", config: labels("devx") },
            ];
            assert.deepEqual(
                stackInstances(all, "dev").map((i) => i.name),
                ["dev-haproxy", "dev-web-blue", "dev-web-green"],
            );
            assert.deepEqual(stackInstances(all, "staging"), []);
        });
    });

    describe("the secret environment's label", () => {
        const file = "DB_PASSWORD=hunter2\n";

        it("is a domain-separated sha256 over stack, container and the file, never a bare hash of the file or a value", () => {
            const d = secretEnvDigest("dev", "dev-web-blue", file);
            const expected = crypto.createHash("sha256").update("bluegreen secret-env v1\0dev\0dev-web-blue\0").update(file).digest("hex");
            assert.equal(d, expected);
            assert.notEqual(d, crypto.createHash("sha256").update(file).digest("hex"));
            assert.notEqual(d, crypto.createHash("sha256").update("hunter2").digest("hex"));
            assert.equal(d.includes("hunter2"), false);
        });

        it("differs per stack, per container and per content; the same inputs give the same label", () => {
            const d = secretEnvDigest("dev", "dev-web-blue", file);
            assert.equal(secretEnvDigest("dev", "dev-web-blue", file), d);
            assert.notEqual(secretEnvDigest("prod", "dev-web-blue", file), d);
            assert.notEqual(secretEnvDigest("dev", "dev-web-green", file), d);
            assert.notEqual(secretEnvDigest("dev", "dev-web-blue", "DB_PASSWORD=hunter3\n"), d);
            // A separator moved between fields is another message.
            assert.notEqual(secretEnvDigest("dev-", "web-blue", file), secretEnvDigest("dev", "-web-blue", file));
        });

        it("lives under the user.bluegreen namespace", () => {
            assert.match(SECRET_ENV_LABEL, /^user\.bluegreen\./);
        });
    });

    describe("the refusal when the state is empty over a live stack", () => {
        const found: LiveFinding = {
            instances: [
                { name: "dev-db", status: "Running", config: labels("dev", { "user.bluegreen.stateful": "db", "user.bluegreen.release": "aaa1111" }) },
                { name: "dev-web-blue", status: "Running", config: labels("dev", { "user.bluegreen.release": "abc1234" }) },
            ],
            volumes: [{ pool: "default", volume: "dev-db-data" }],
        };

        it("names every instance and volume, and what works: the real state, or adopting after the preview", () => {
            const m = stateLossRefusal("dev", found);
            assert.match(m, /stack dev/);
            assert.match(m, /dev-db \(Running, release aaa1111\)/);
            assert.match(m, /dev-web-blue \(Running, release abc1234\)/);
            assert.match(m, /default\/dev-db-data/);
            assert.match(m, /PULUMI_BACKEND_URL/);
            assert.match(m, /bluegreen:adopt: true/);
            assert.match(m, /BLUEGREEN_ADOPT=1/);
            assert.match(m, /preview/);
            assert.match(m, /Nothing was touched\.$/);
        });

        it("says what was written before the deploy lock existed needs: one adopting run", () => {
            assert.match(stateLossRefusal("dev", found), /before bluegreen had the deploy lock/);
        });

        it("shortens a long list, naming how many more", () => {
            const many: LiveFinding = {
                instances: Array.from({ length: 30 }, (_, k) => ({ name: `dev-web-blue-${k + 1}`, status: "Running", config: labels("dev") })),
                volumes: [],
            };
            const m = stateLossRefusal("dev", many);
            assert.match(m, /dev-web-blue-1 /);
            assert.match(m, /and 10 more/);
            assert.equal(m.includes("dev-web-blue-30"), false);
        });

        it("the notice of an adopting run names what it adopts, the rules, and where adopt came from", () => {
            const byConfig = adoptionNotice("dev", found, "config");
            assert.match(byConfig, /dev-db/);
            assert.match(byConfig, /dev-web-blue/);
            assert.match(byConfig, /default\/dev-db-data/);
            assert.match(byConfig, /release, env and secrets/);
            assert.match(byConfig, /bluegreen:adopt: true/);
            assert.match(byConfig, /remove/);
            assert.match(adoptionNotice("dev", found, "env"), /BLUEGREEN_ADOPT=1/);
        });
    });

    describe("BLUEGREEN_ADOPT", () => {
        it("is on for 1 or true, off when unset, empty or 0", () => {
            assert.equal(adoptFromEnv("1"), true);
            assert.equal(adoptFromEnv("true"), true);
            assert.equal(adoptFromEnv(undefined), false);
            assert.equal(adoptFromEnv(""), false);
            assert.equal(adoptFromEnv("0"), false);
        });

        it("refuses anything else before anything is touched, naming what it expects", () => {
            assert.throws(
                () => adoptFromEnv("yes please"),
                (e: unknown) => e instanceof ConfigError && /BLUEGREEN_ADOPT: expected 1/.test(e.message),
            );
        });
    });
});
