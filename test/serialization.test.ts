// Every provider must survive Pulumi's closure serialization: under setMocks a
// provider that cannot be serialized does not fail, its resources just hang.
// This loads each one back exactly as the dynamic-provider host does.

import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { clearIncusTrust } from "../components/io/incusTrust";
import { trustDirName } from "../components/model/cluster/trust";
import { setEnv } from "./helpers/tmp";
import { initFailure, refused } from "../components/model/errors";
import { colorContainerProvider } from "../components/providers/colorContainer";
import { PROVIDERS } from "../components/providers";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireFromString: (code: string) => { handler: () => any } = require("require-from-string");

async function roundTrip<T>(value: T): Promise<{ text: string; loaded: T }> {
    const sf = await pulumi.runtime.serializeFunction(() => value, { allowSecrets: true });
    return { text: sf.text, loaded: requireFromString(sf.text).handler() as T };
}

describe("provider serialization", function () {
    this.timeout(60_000);
    it("the registry holds every provider the program declares", () => {
        assert.deepEqual(Object.keys(PROVIDERS).sort(), [
            "acme",
            "canary",
            "certificates",
            "colorContainer",
            "haproxy",
            "lock",
            "maintenance",
            "prometheus",
            "retention",
            "stateful",
            "switch",
            "unlock",
        ]);
    });

    for (const [name, provider] of Object.entries(PROVIDERS)) {
        it(`${name} serializes and loads back with every method`, async () => {
            const { text, loaded } = await roundTrip(provider);
            for (const m of ["diff", "create", "update", "delete", "read"] as const) {
                assert.equal(typeof (loaded as any)[m], "function", `${name}.${m} after serialization`);
            }
            // Modules from node_modules and node's built-ins are required, never inlined.
            assert.doesNotMatch(text, /require\("\.\.?\//, "no relative requires: the host loads the text from a string");
        });
    }

    it("a serialized provider refuses every step once its process lost the deploy lock (the flag lives on globalThis)", async () => {
        const { loaded } = await roundTrip(PROVIDERS.switch!);
        const g = globalThis as { bluegreenDeployLock?: unknown };
        g.bluegreenDeployLock = { held: {}, taking: {}, freeing: {}, finished: {}, lost: "this run lost the deploy lock of stack dev: taken over" };
        try {
            await assert.rejects(loaded.delete!("dev-switch", {}), (e: any) => e.name === "RefusedError" && /lost the deploy lock/.test(e.message));
        } finally {
            delete g.bluegreenDeployLock;
        }
    });

    it("a serialized provider makes the stack's incus client config from its own trust input, and checks the remote with it", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-test-"));
        const restore = setEnv({ XDG_RUNTIME_DIR: dir });
        try {
            const pair = (cn: string) => {
                const r = spawnSync(
                    "openssl",
                    [
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-days",
                        "1",
                        "-subj",
                        `/CN=${cn}`,
                        "-keyout",
                        `${dir}/${cn}.key`,
                        "-out",
                        `${dir}/${cn}.crt`,
                    ],
                    { encoding: "utf8" },
                );
                assert.equal(r.status, 0, r.stderr);
                return { crt: fs.readFileSync(`${dir}/${cn}.crt`, "utf8"), key: fs.readFileSync(`${dir}/${cn}.key`, "utf8") };
            };
            const client = pair("client");
            // Loopback, closed port: the real incus CLI finds remote "ci" in the made config and is refused the connection.
            const trust = { remote: "ci", address: "https://127.0.0.1:1", serverCert: pair("server").crt, clientCert: client.crt, clientKey: client.key };
            const { loaded } = await roundTrip(PROVIDERS.unlock!);
            await assert.rejects(loaded.delete!("dev-unlock", { incusTrust: trust }), (e: any) => {
                assert.equal(e.name, "RefusedError", e.message);
                assert.match(e.message, /^cannot reach ci at bluegreen:incus\.address https:\/\/127\.0\.0\.1:1: .*connection refused/);
                return true;
            });
            assert.deepEqual(fs.readdirSync(path.join(dir, "bluegreen")), [trustDirName(trust)]);
        } finally {
            clearIncusTrust();
            restore();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a serialized provider still validates inputs", async () => {
        const { loaded } = await roundTrip(colorContainerProvider);
        const r = await loaded.check!({}, { name: "Bad Name", color: "red", release: "xyz" });
        assert.deepEqual(
            r.failures?.map((f) => f.property),
            ["name", "color", "release"],
        );
    });

    it("errors thrown in serialized code keep their message, name and partial-failure id", async () => {
        const thrower = {
            async refuse() {
                throw refused("refusing: switch first");
            },
            async partial() {
                throw initFailure("unhealthy", "dev-web-green", { healthy: false });
            },
        };
        const { loaded } = await roundTrip(thrower);
        await assert.rejects(loaded.refuse(), (e: any) => e instanceof Error && e.message === "refusing: switch first" && e.name === "RefusedError");
        await assert.rejects(
            loaded.partial(),
            (e: any) => e.message === "unhealthy" && e.id === "dev-web-green" && e.properties.healthy === false && e.reasons[0] === "unhealthy",
        );
    });
});
