// The contract between the providers and Pulumi's dynamic-provider host, checked against
// the real host process (runner/host.ts), with no Incus:
// - what the host itself does: it adds __provider to create/update/read results but not to
//   a partial failure's properties, and a delete (or read) of properties without
//   __provider fails in the host;
// - that every provider's diff answers "no change" to a change of __provider alone;
// - that colorContainer's partial-failure properties (the only provider that throws one)
//   hold __provider and every key its diff, delete and read read. This part runs the
//   provider in-process with the process seam stubbed (the host is another process); it
//   proves the keys, and the host part proves what the host does with them.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { dirStore } from "../../components/io/artifacts";
import { colorContainerInputs, haproxyInputs, switchInputs } from "../../components/plan";
import { colorContainerProvider } from "../../components/providers/colorContainer";
import { haproxyProvider } from "../../components/providers/haproxy";
import { switchProvider } from "../../components/providers/switch";
import { ColorContainerInputs } from "../../components/release/deploy";
import { finishDeployLock } from "../../components/release/safety/lock";
import { ProviderError, ProviderHost } from "../../runner/host";
import { decide } from "../../runner/plan";
import { haproxyCliSocket } from "../helpers/haproxySocket";
import { reply, startServer } from "../helpers/httpServer";
import { quietProgress } from "../helpers/quiet";
import { INCUS_NOT_FOUND, instanceJson, ok, stubRunner } from "../helpers/runnerStub";
import { stackConfig } from "../helpers/stackConfig";
import { makeTmp, removeTmp } from "../helpers/tmp";

const URN = "urn:pulumi:dev::bluegreen::pulumi-nodejs:dynamic:Resource::thing";

async function serialized(provider: pulumi.dynamic.ResourceProvider): Promise<string> {
    return (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
}

/** Records which top-level keys are read from an object. */
function recording<T extends object>(o: T): { value: T; read: Set<string> } {
    const read = new Set<string>();
    const value = new Proxy(o, {
        get(t, k, r) {
            if (typeof k === "string") read.add(k);
            return Reflect.get(t, k, r);
        },
    });
    return { value, read };
}

describe("runner: provider contract with Pulumi's dynamic-provider host", function () {
    this.timeout(120_000);
    quietProgress();
    let host: ProviderHost;
    let dir: string;
    const log: string[] = [];

    before(async () => {
        dir = makeTmp("bluegreen-contract-");
        host = await ProviderHost.start({ project: "bluegreen", stack: "dev", cwd: dir, log: (l) => log.push(l) });
    });
    after(() => {
        host?.close();
        removeTmp(dir);
    });

    describe("what the host does", () => {
        const probe: pulumi.dynamic.ResourceProvider = {
            async create(inputs: any) {
                if (inputs.fail) throw Object.assign(new Error("unhealthy"), { id: "p1", properties: { kept: true }, reasons: ["unhealthy after 3 checks"] });
                return { id: "p1", outs: { made: true } };
            },
            async read(id: string, props: any) {
                return props.noProps ? { id } : { id, props: { ...props, seen: true } };
            },
            async delete() {
                return;
            },
        };

        it("adds __provider to a create's outputs, but not to a partial failure's properties", async () => {
            const text = await serialized(probe);
            const r = await host.create(URN, { __provider: text }, 0);
            assert.deepEqual(r, { id: "p1", properties: { made: true, __provider: text } });
            await assert.rejects(host.create(URN, { __provider: text, fail: true }, 0), (e: unknown) => {
                assert.ok(e instanceof ProviderError);
                assert.equal(e.message, "unhealthy");
                assert.deepEqual(e.initFailure, { id: "p1", properties: { kept: true }, inputs: undefined, reasons: ["unhealthy after 3 checks"] });
                return true;
            });
        });

        it("brings back a partial failure whose properties are over 64 KiB, as a provider's with __provider are", async () => {
            // Node's HTTP/2 cannot decode one header value over 64 KiB; before the host split it,
            // this call hung forever.
            const big = {
                async create(inputs: any) {
                    throw Object.assign(new Error("unhealthy"), { id: "p2", properties: { ...inputs }, reasons: ["r"] });
                },
            };
            const text = await serialized(big);
            const padding = "x".repeat(80_000);
            await assert.rejects(host.create(URN, { __provider: text, padding }, 0), (e: unknown) => {
                assert.ok(e instanceof ProviderError);
                assert.equal(e.initFailure?.id, "p2");
                assert.equal(e.initFailure?.properties.padding, padding);
                assert.equal(e.initFailure?.properties.__provider, text);
                return true;
            });
        });

        it("brings back a partial failure whose trailer is over nghttp2's 8 CONTINUATION frames (about 140 KiB at 16 KiB frames)", async () => {
            // A provider's __provider text grows with the code it captures (150 KB for a container's);
            // at 16 KiB frames the trailer block needed more CONTINUATION frames than Node accepts.
            const big = {
                async create(inputs: any) {
                    throw Object.assign(new Error("unhealthy"), { id: "p3", properties: { ...inputs }, reasons: ["r"] });
                },
            };
            const text = await serialized(big);
            // Provider-like text: source code, which is what makes a trailer this large.
            const padding = text.repeat(Math.ceil(400_000 / text.length));
            await assert.rejects(host.create(URN, { __provider: text, padding }, 0), (e: unknown) => {
                assert.ok(e instanceof ProviderError, String(e));
                assert.equal(e.initFailure?.id, "p3", e.message);
                assert.equal(e.initFailure?.properties.padding, padding);
                return true;
            });
        });

        it("fails a delete or read of properties without __provider: `code must be a string, not undefined`", async () => {
            await assert.rejects(host.delete(URN, "p1", { kept: true }, {}, 0), /code must be a string, not undefined/);
            await assert.rejects(host.read(URN, "p1", { kept: true }, undefined), /code must be a string, not undefined/);
            await host.delete(URN, "p1", { kept: true, __provider: await serialized(probe) }, {}, 0);
        });

        it("a read that returns no props leaves only __provider: what the engine, and the runner, store", async () => {
            const text = await serialized(probe);
            assert.deepEqual(await host.read(URN, "p1", { __provider: text, noProps: true, other: 1 }, undefined), {
                id: "p1",
                properties: { __provider: text },
                inputs: undefined,
            });
            assert.deepEqual((await host.read(URN, "p1", { __provider: text, other: 1 }, undefined)).properties, { __provider: text, other: 1, seen: true });
        });
    });

    describe("a change to __provider alone is no change", () => {
        const config = stackConfig({ haproxy: { frontendPort: 18100, exporterPort: 18101, dir: "/tmp/unused" } });
        // Tests of deploy code earlier in this process leave the provider host's Incus semaphore on
        // globalThis (io/incusSlots.ts); the SDK serializer would carry it. A program process has none.
        before(() => delete (globalThis as Record<string, unknown>)["__bluegreenIncusSlots"]);
        let master: Awaited<ReturnType<typeof haproxyCliSocket>> | undefined;
        after(async () => master?.close());

        async function assertNoChange(
            provider: pulumi.dynamic.ResourceProvider,
            inputs: Record<string, unknown>,
            outputs: Record<string, unknown>,
        ): Promise<void> {
            const text = await serialized(provider);
            const changed = `${text}\n// the provider's code changed\n`;
            const oldInputs = { ...inputs, __provider: text };
            const news = { ...inputs, __provider: changed };
            const d = await host.diff(URN, "id", oldInputs, { ...outputs, __provider: text }, news, []);
            assert.equal(d.changes, "none");
            assert.deepEqual(decide({ diff: d, oldInputs, newInputs: news, hasInitErrors: false }), { op: "same" });
        }

        it("colorContainer (answering healthily: its diff probes it once)", async () => {
            const app = await startServer(reply(200, {}, "ok"));
            try {
                const i = {
                    ...colorContainerInputs(config, "blue", "abc1234", {
                        host: { placement: "host" },
                        stateDir: "/tmp/unused",
                        adminSocket: "/tmp/unused/admin.sock",
                    })[0],
                    hostPort: app.port,
                };
                await assertNoChange(colorContainerProvider, { ...i }, { ...i, status: "Running", healthy: true, url: `http://127.0.0.1:${app.port}/health` });
            } finally {
                await app.close();
            }
        });

        it("switch", async () => {
            const i = switchInputs(config);
            await assertNoChange(switchProvider, { ...i }, { ...i, served: "blue", recorded: "blue" });
        });

        it("haproxy (running: its master socket answers show proc)", async () => {
            const i = haproxyInputs(stackConfig({ haproxy: { frontendPort: 18100, exporterPort: 18101, dir } }));
            fs.mkdirSync(path.dirname(i.layout.hostMasterSocket), { recursive: true });
            const proc =
                "#<PID> <type> <reloads> <uptime> <version>\n100 master 0 [failed: 0] 0d00h01m00s 2.6.12\n# workers\n101 worker 0 0d00h00m01s 2.6.12\n";
            master = await haproxyCliSocket(i.layout.hostMasterSocket, (c) => (c === "show proc" ? proc : ""));
            await assertNoChange(haproxyProvider, { ...i }, { ...i, running: true, masterPid: 100 });
        });
    });

    describe("colorContainer's partial failure (the provider run in-process, process seam stubbed)", () => {
        it("holds __provider and every key its diff, delete and read read", async () => {
            const store = path.join(dir, "artifacts");
            await dirStore(store).publish({ component: "backend", release: "abc1234" }, Buffer.from("not a real tarball"));
            const cfg = stackConfig({ artifacts: { type: "dir", path: store }, health: { attempts: 1, intervalMs: 50, timeoutMs: 200 } });
            const guardDir = path.join(dir, "guard");
            const base = colorContainerInputs(cfg, "blue", "abc1234", {
                host: { placement: "host" },
                stateDir: guardDir,
                adminSocket: path.join(guardDir, "admin.sock"),
            })[0];
            // The host passes create its inputs with __provider; nothing listens on the health port.
            const inputs = { ...base, hostPort: 1, __provider: "the serialized provider" } as ColorContainerInputs & { __provider: string };
            const stub = stubRunner((cmd) => (cmd.argv[1] === "query" ? INCUS_NOT_FOUND : ok()));
            let properties: Record<string, unknown>;
            try {
                const e = await colorContainerProvider.create!(inputs).then(
                    () => assert.fail("create of an unhealthy container succeeded"),
                    (x) => x as { id: string; properties: Record<string, unknown>; reasons: string[] },
                );
                assert.equal(e.id, base.name);
                properties = e.properties;
            } finally {
                stub.restore();
            }
            assert.equal(properties.__provider, "the serialized provider", "the host needs it for delete and read");

            const read = new Set<string>();
            const use = async (f: (props: any) => Promise<unknown>) => {
                const r = recording({ ...properties });
                await f(r.value);
                for (const k of r.read) read.add(k);
            };
            const s2 = stubRunner((cmd) => (cmd.argv[1] === "query" ? ok(instanceJson(base.name, "Running", { "user.bluegreen.release": "abc1234" })) : ok()));
            try {
                await use((p) => colorContainerProvider.diff!(base.name, p, base));
                await use((p) => colorContainerProvider.delete!(base.name, p));
                await use((p) => colorContainerProvider.read!(base.name, p));
            } finally {
                s2.restore();
                // The delete took the stack's deploy lock for this process, as a destroy's does.
                await finishDeployLock({ host: { placement: "host" }, stateDir: guardDir, stack: base.stack });
            }
            // A key read that the inputs had but the properties lack would be undefined after a partial failure.
            const missing = [...read].filter((k) => k in inputs && !(k in properties));
            assert.deepEqual(missing, [], `keys diff, delete or read read but the partial failure lacks: ${missing.join(", ")}`);
            assert.ok(read.size >= 5, [...read].join(", "));
        });
    });
});
