// Trust from the stack's secrets (issue 21, "Trust"): a runner with an EMPTY incus client config
// (INCUS_CONF at an empty dir) reaches a remote (scripts/cluster.sh MODE=single) only through
// bluegreen:incus.{address,serverCert,clientCert,clientKey}, with a client certificate restricted
// to the stack's project. A wrong serverCert is refused before anything is made; the client key
// never shows in the state file, the output or the instances' Incus config.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ClusterStatus, TestCluster } from "../../harness/cluster";
import { ROOT, RunResult, TestStack } from "../../harness/stack";

const CLI = path.join(ROOT, "scripts/local.js");
const RELEASE = "a22401a";

/** A self-signed EC certificate and key, as `incus remote generate-certificate` makes them. */
function certPair(dir: string, cn: string): { crt: string; key: string } {
    const r = spawnSync(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:secp384r1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            `/CN=${cn}`,
            "-keyout",
            `${dir}/${cn}.key`,
            "-out",
            `${dir}/${cn}.crt`,
        ],
        { encoding: "utf8", timeout: 20_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    return { crt: fs.readFileSync(`${dir}/${cn}.crt`, "utf8"), key: fs.readFileSync(`${dir}/${cn}.key`, "utf8") };
}

/** The key's base64 body, one line of it: what a leak would show. */
const keyBody = (pem: string) => pem.split("\n").filter((l) => l && !l.startsWith("-----"))[0];

describe("e2e: trust in a remote from the stack's secrets, from a runner with no incus config", function () {
    this.timeout(240_000);
    const c = new TestCluster({ name: "trust", mode: "single" });
    const s = new TestStack({ name: "trust", basePort: 22400, placement: "incus" });
    let st: ClusterStatus;
    let client: { crt: string; key: string };
    let emptyConf: string;
    const remote = (name = "") => `${st.remote}:${name}`;
    const ours = async () =>
        (JSON.parse(await c.incus(["list", remote(), "--format", "json"])) as { name: string }[]).map((i) => i.name).filter((n) => n.startsWith(s.prefix));

    /** The runner CLI in the runner namespace with an empty incus config: only the stack's secrets can reach the remote. */
    const cli = (args: readonly string[], input?: string): Promise<RunResult> =>
        c.runner(
            [
                "env",
                `INCUS_CONF=${emptyConf}`,
                `PULUMI_BACKEND_URL=${s.backendUrl}`,
                "PULUMI_CONFIG_PASSPHRASE=",
                "BLUEGREEN_QUIET=",
                process.execPath,
                CLI,
                // The stack's options before `--`: after it is the argv of `app exec`.
                ...(args.includes("--") ? args.slice(0, args.indexOf("--")) : args),
                "--stack",
                s.stack,
                "--config-file",
                s.configFile,
                "--cwd",
                ROOT,
                ...(args.includes("--") ? args.slice(args.indexOf("--")) : []),
            ],
            { timeoutMs: 150_000, input },
        );

    /** `config set` as an operator does, the value on stdin (`< file.pem`), never on argv; it edits the stack file in place. */
    async function setFromStdin(key: string, value: string, secret: boolean): Promise<void> {
        const r = await cli(["config", "set", `bluegreen:${key}`, ...(secret ? ["--secret"] : [])], value);
        assert.equal(r.code, 0, r.stderr);
    }

    before(async () => {
        s.reset();
        st = await c.up();
        emptyConf = path.join(s.dir, "empty-incus-conf");
        fs.mkdirSync(emptyConf, { recursive: true, mode: 0o700 });
        client = certPair(s.dir, "ci-runner");
        // Least privilege: a certificate restricted to the stack's project (default), trusted by an admin.
        fs.writeFileSync(path.join(s.dir, "ci.crt"), client.crt);
        await c.incus([
            "config",
            "trust",
            "add-certificate",
            remote(),
            path.join(s.dir, "ci.crt"),
            "--restricted",
            "--projects",
            "default",
            "--name",
            "ci-runner",
        ]);
        await s.publishOne("web", RELEASE);
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        s.config.incus = { remote: st.remote };
        s.setColors({ blue: RELEASE }, "blue");
        s.config.health = { attempts: 20, intervalMs: 250, timeoutMs: 1000 };
        s.writeConfig(); // once: from here on only `config set` edits the file
        await setFromStdin("incus.address", st.remoteUrl, false);
        await setFromStdin("incus.clientCert", client.crt, false);
        await setFromStdin("incus.clientKey", client.key, true);
    });

    after(async () => {
        await c.down();
        fs.rmSync(s.dir, { recursive: true, force: true });
    });

    it("without trust the empty incus config reaches nothing: the remote is unknown to it", async () => {
        const r = await c.runner(["env", `INCUS_CONF=${emptyConf}`, "incus", "list", remote()]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /remote "[^"]+" doesn't exist/);
    });

    it("refuses a wrong serverCert before anything is made, naming the key and how to fetch the right one", async () => {
        await setFromStdin("incus.serverCert", certPair(s.dir, "impostor").crt, false);
        const r = await cli(["up"]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /presents a certificate that is not bluegreen:incus\.serverCert: TLS refused/);
        assert.match(r.stderr, /jq -r \.environment\.certificate/);
        assert.deepEqual(await ours(), [], "nothing on the remote");
        const state = fs.existsSync(s.statePath()) ? fs.readFileSync(s.statePath(), "utf8") : "";
        assert.equal(state.includes("pulumi-nodejs:dynamic:Resource"), false, "nothing in state");
        for (const text of [r.stdout, r.stderr]) assert.equal(text.includes(keyBody(client.key)), false, "the key is not in the output");
    });

    it("with the right serverCert, the stack's resources reach the remote through the secrets alone; the key is in no state, output or Incus config", async () => {
        const serverCert = (await c.runner(["cat", path.join(st.incusConf, "servercerts", `${st.remote}.crt`)])).stdout;
        await setFromStdin("incus.serverCert", serverCert, false);
        const r = await cli(["up"]);
        // The remote reach (HAProxy's runtime API, probes) is issue 21's other part: until it lands an
        // up may stop there, but never on trust.
        assert.doesNotMatch(r.stderr, /certificate|x509|doesn't exist|not trust/i, r.stderr);
        const made = await ours();
        assert.ok(made.includes(`${s.prefix}haproxy`), `the HAProxy instance was made on the remote (${made.join(", ")}); up said:\n${r.stderr.slice(-3000)}`);
        const key = keyBody(client.key);
        for (const text of [r.stdout, r.stderr]) assert.equal(text.includes(key), false, "the key is not in the output");
        const state = fs.readFileSync(s.statePath(), "utf8");
        assert.ok(state.includes("incusTrust"), "the resources carry the trust");
        assert.equal(state.includes(key), false, "the key is not in the state file in plaintext");
        for (const n of made) assert.equal((await c.incus(["config", "show", remote(n)])).includes(key), false, `not in ${n}'s Incus config`);
        // Nor in anything the stack wrote on its HAProxy instance (lock, audit log, state files).
        const grep = await c.runner(["incus", "exec", remote(`${s.prefix}haproxy`), "--", "grep", "-rlF", key, "/var/lib"]);
        assert.equal(grep.code, 1, `grep: ${grep.stdout}${grep.stderr}`);
        const preview = await cli(["preview"]);
        for (const text of [preview.stdout, preview.stderr]) assert.equal(text.includes(key), false, "the key is not in a preview");
        // The operator verbs too: they run in the runner's own process, from the stack's secrets.
        const lock = await cli(["lock", "status", "--json"]);
        assert.equal(lock.code, 0, lock.stderr);
        assert.match(JSON.parse(lock.stdout).state, /^(free|held)$/);
        const exec = await cli(["app", "exec", "--component", "web", "--color", "blue", "--", "uname", "-n"]);
        assert.equal(exec.code, 0, exec.stderr);
        assert.equal(exec.stdout, `${s.prefix}web-blue\n`);
        // A destroy runs no program: each provider makes the client config from the trust in state.
        const down = await cli(["destroy"]);
        assert.equal(down.code, 0, down.stderr);
        assert.deepEqual(await ours(), []);
        for (const text of [down.stdout, down.stderr]) assert.equal(text.includes(key), false, "the key is not in the output");
    });
});
