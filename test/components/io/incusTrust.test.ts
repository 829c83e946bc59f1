import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { Cmd, CmdResult, run, runLive, setIncusConf, setRunner } from "../../../components/io/exec";
import { clearIncusTrust, materializeTrust, trustBaseDir, trustCheckCmd, useIncusTrust } from "../../../components/io/incusTrust";
import { trusted } from "../../../components/providers/trust";
import { IncusTrust, clientConfigFiles, trustDirName } from "../../../components/model/cluster/trust";
import { makeTmp, removeTmp, setEnv } from "../../helpers/tmp";

const KEY_BODY = "c2VjcmV0LWtleS1pby10ZXN0LXVuaXF1ZQ==";
const cert = (n: string) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(`cert-${n}`).toString("base64")}\n-----END CERTIFICATE-----\n`;
const TRUST: IncusTrust = {
    remote: "ci",
    address: "https://10.0.0.2:8443",
    serverCert: cert("server"),
    clientCert: cert("client"),
    clientKey: `-----BEGIN EC PRIVATE KEY-----\n${KEY_BODY}\n-----END EC PRIVATE KEY-----\n`,
};

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe("incusTrust: the private incus client config", () => {
    let tmp: string;
    let restoreEnv: () => void;
    let restoreRunner: (() => void) | undefined;
    beforeEach(() => {
        tmp = makeTmp();
        restoreEnv = setEnv({ XDG_RUNTIME_DIR: tmp });
        clearIncusTrust();
    });
    afterEach(() => {
        restoreRunner?.();
        restoreRunner = undefined;
        clearIncusTrust();
        restoreEnv();
        removeTmp(tmp);
    });

    function stub(answer: (cmd: Cmd) => CmdResult): Cmd[] {
        const seen: Cmd[] = [];
        restoreRunner = setRunner(async (cmd) => {
            seen.push(cmd);
            return answer(cmd);
        });
        return seen;
    }
    const trustedAnswer = (cmd: Cmd): CmdResult =>
        cmd.argv[1] === "query" ? { code: 0, stdout: '{"auth":"trusted","api_version":"1.0"}', stderr: "" } : { code: 0, stdout: "", stderr: "" };

    it("writes it under the per-user runtime dir, content-addressed: dir 0700, files 0600, exactly the model's files", () => {
        const dir = materializeTrust(TRUST);
        assert.equal(dir, path.join(tmp, "bluegreen", trustDirName(TRUST)));
        assert.equal(mode(path.join(tmp, "bluegreen")), 0o700);
        assert.equal(mode(dir), 0o700);
        assert.equal(mode(path.join(dir, "servercerts")), 0o700);
        for (const [rel, content] of Object.entries(clientConfigFiles(TRUST))) {
            assert.equal(fs.readFileSync(path.join(dir, rel), "utf8"), content);
            assert.equal(mode(path.join(dir, rel)), 0o600, rel);
        }
        assert.deepEqual(fs.readdirSync(path.join(tmp, "bluegreen")), [trustDirName(TRUST)], "no temp dir left");
    });

    it("reuses the directory of the same content, and makes a new one for new content", () => {
        const dir = materializeTrust(TRUST);
        const ino = fs.statSync(path.join(dir, "config.yml")).ino;
        assert.equal(materializeTrust({ ...TRUST }), dir);
        assert.equal(fs.statSync(path.join(dir, "config.yml")).ino, ino, "not rewritten");
        const other = materializeTrust({ ...TRUST, serverCert: cert("renewed") });
        assert.notEqual(other, dir);
    });

    it("refuses a base dir that is a link (not private)", () => {
        fs.mkdirSync(path.join(tmp, "elsewhere"));
        fs.symlinkSync(path.join(tmp, "elsewhere"), path.join(tmp, "bluegreen"));
        assert.throws(() => trustBaseDir(), /is not a private directory of this user/);
    });

    it("checks the remote once (incus query ci:/1.0 with INCUS_CONF), then names INCUS_CONF on every incus command and no other", async () => {
        const seen = stub(trustedAnswer);
        await useIncusTrust(TRUST);
        await useIncusTrust(TRUST);
        const dir = path.join(tmp, "bluegreen", trustDirName(TRUST));
        assert.deepEqual(seen, [{ ...trustCheckCmd(TRUST), env: { INCUS_CONF: dir } }]);
        assert.deepEqual(trustCheckCmd(TRUST).argv, ["incus", "query", "ci:/1.0"]);
        await run({ argv: ["incus", "list", "ci:"], env: { A: "1" } });
        await run({ argv: ["haproxy", "-c"] });
        assert.deepEqual(seen.slice(1), [{ argv: ["incus", "list", "ci:"], env: { A: "1", INCUS_CONF: dir } }, { argv: ["haproxy", "-c"] }]);
        await useIncusTrust(undefined);
        await run({ argv: ["incus", "list"] });
        assert.deepEqual(seen[3].env, { INCUS_CONF: dir }, "no trust given: the process keeps its own");
    });

    it("a real incus process gets INCUS_CONF, whether run or run live (app exec, app logs -f)", async () => {
        const bin = path.join(tmp, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "incus"), '#!/bin/sh\necho "conf=$INCUS_CONF"\n', { mode: 0o755 });
        const restorePath = setEnv({ PATH: `${bin}:${process.env.PATH}` });
        try {
            setIncusConf("/run/conf-x");
            assert.equal((await run({ argv: ["incus", "version"] })).stdout, "conf=/run/conf-x\n");
            let out = "";
            assert.equal((await runLive({ argv: ["incus", "exec"] }, { onStdout: (b) => (out += b.toString()) })).code, 0);
            assert.equal(out, "conf=/run/conf-x\n");
        } finally {
            restorePath();
        }
    });

    it("refuses a TLS mismatch naming bluegreen:incus.serverCert and how to fetch the right one, and runs nothing after it", async () => {
        const seen = stub(() => ({
            code: 1,
            stdout: "",
            stderr: 'Error: Get "https://10.0.0.2:8443/1.0": tls: failed to verify certificate: x509: certificate signed by unknown authority',
        }));
        await assert.rejects(useIncusTrust(TRUST), (e: Error) => {
            assert.equal(e.name, "RefusedError");
            assert.match(e.message, /^ci \(https:\/\/10\.0\.0\.2:8443\) presents a certificate that is not bluegreen:incus\.serverCert: TLS refused/);
            assert.match(e.message, /incus query \/1\.0 \| jq -r \.environment\.certificate > server\.crt/);
            assert.match(e.message, /pulumi config set bluegreen:incus\.serverCert < server\.crt/);
            assert.match(e.message, /Nothing was touched/);
            assert.equal(e.message.includes(KEY_BODY), false);
            return true;
        });
        await run({ argv: ["incus", "list"] });
        assert.deepEqual(seen[1], { argv: ["incus", "list"] }, "a refused trust is not left in force");
    });

    it("refuses a client certificate and key that are not a pair, naming both keys, never the key", async () => {
        stub(() => ({ code: 1, stdout: "", stderr: "Error: tls: private key does not match public key" }));
        await assert.rejects(useIncusTrust(TRUST), (e: Error) => {
            assert.match(
                e.message,
                /^bluegreen:incus\.clientCert and bluegreen:incus\.clientKey are not a usable pair: tls: private key does not match public key/,
            );
            assert.match(e.message, /pulumi config set --secret bluegreen:incus\.clientKey < client\.key/);
            assert.equal(e.message.includes(KEY_BODY), false);
            return true;
        });
    });

    it("says it cannot reach the remote when it does not answer, naming the address", async () => {
        stub(() => ({
            code: 1,
            stdout: "",
            stderr: 'Error: Get "https://10.0.0.2:8443/1.0": Unable to connect to: 10.0.0.2:8443 ([dial tcp 10.0.0.2:8443: connect: connection refused])',
        }));
        await assert.rejects(useIncusTrust(TRUST), /^RefusedError: cannot reach ci at bluegreen:incus\.address https:\/\/10\.0\.0\.2:8443: Error: Get/);
    });

    it("refuses a client the remote does not trust, naming bluegreen:incus.clientCert and the restricted trust", async () => {
        stub(() => ({ code: 0, stdout: '{"auth":"untrusted"}', stderr: "" }));
        await assert.rejects(
            useIncusTrust(TRUST),
            /does not trust bluegreen:incus\.clientCert \(auth: untrusted\).*incus config trust add-certificate client\.crt --restricted --projects <project>/,
        );
    });

    it("a provider method makes it from its own inputs, and keeps it in its outputs for delete", async () => {
        const seen = stub(trustedAnswer);
        const inner = {
            async create(inputs: Record<string, unknown>) {
                await run({ argv: ["incus", "create", "ci:x"] });
                return { id: "x", outs: { name: inputs.name } };
            },
            async delete() {
                await run({ argv: ["incus", "delete", "ci:x"] });
            },
        };
        const p = trusted(inner as never) as unknown as typeof inner;
        const created = await p.create({ name: "x", incusTrust: TRUST });
        assert.deepEqual(created.outs, { name: "x", incusTrust: TRUST });
        clearIncusTrust(); // a destroy: another process, no program
        await (p.delete as (id: string, props: unknown) => Promise<void>)("x", created.outs);
        const dir = path.join(tmp, "bluegreen", trustDirName(TRUST));
        assert.deepEqual(
            seen.filter((c) => c.argv[1] !== "query").map((c) => [c.argv.join(" "), c.env?.INCUS_CONF]),
            [
                ["incus create ci:x", dir],
                ["incus delete ci:x", dir],
            ],
        );
    });

    it("a renewed certificate is an update that only records it, so a later destroy uses it; other changes still reach the provider", async () => {
        stub(trustedAnswer);
        const calls: string[] = [];
        const inner = {
            async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
                return { changes: olds.release !== news.release };
            },
            async update(_id: string, _olds: unknown, news: Record<string, unknown>) {
                calls.push(`update ${String(news.release)}`);
                return { outs: { release: news.release, served: true } };
            },
        };
        const p = trusted(inner as never) as unknown as typeof inner;
        const renewed = { ...TRUST, serverCert: cert("renewed") };
        const olds = { release: "a", served: true, incusTrust: TRUST };
        assert.deepEqual(await p.diff("x", olds, { release: "a", incusTrust: TRUST }), { changes: false });
        assert.deepEqual(await p.diff("x", olds, { release: "a", incusTrust: renewed }), { changes: true });
        assert.deepEqual(await p.update("x", olds, { release: "a", incusTrust: renewed }), { outs: { release: "a", served: true, incusTrust: renewed } });
        assert.deepEqual(calls, [], "nothing but the trust changed: the provider's update did not run");
        assert.deepEqual(await p.update("x", olds, { release: "b", incusTrust: renewed }), { outs: { release: "b", served: true, incusTrust: renewed } });
        assert.deepEqual(calls, ["update b"]);
        assert.deepEqual(await p.diff("x", olds, { release: "a" }), { changes: true }, "trust removed: the runner's incus config from now on");
        assert.deepEqual(await p.update("x", olds, { release: "a" }), { outs: { release: "a", served: true } });
        assert.deepEqual(calls, ["update b"]);
    });
});
