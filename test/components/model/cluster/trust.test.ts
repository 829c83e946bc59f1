import assert from "node:assert/strict";
import { ConfigError, incusTrustOf, loadConfig } from "../../../../components/model/config";
import { IncusTrust, clientConfigFiles, incusConfEnv, trustDirName } from "../../../../components/model/cluster/trust";

const KEY_BODY = "c2VjcmV0LWtleS1ob3B0YWNvLXVuaXF1ZQ==";
const PEM = {
    cert: (n: string) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(`cert-${n}`).toString("base64")}\n-----END CERTIFICATE-----\n`,
    key: `-----BEGIN EC PRIVATE KEY-----\n${KEY_BODY}\n-----END EC PRIVATE KEY-----\n`,
};
const TRUST: IncusTrust = {
    remote: "ci",
    address: "https://10.0.0.2:8443",
    serverCert: PEM.cert("server"),
    clientCert: PEM.cert("client"),
    clientKey: PEM.key,
};

const base = {
    "bluegreen:active": "blue",
    "bluegreen:colors": '{"blue":{"release":"abc1234"}}',
    "bluegreen:haproxy": '{"frontendPort":18100,"exporterPort":18101,"placement":"incus"}',
    "bluegreen:incus": '{"remote":"ci"}',
};
const secrets = {
    "bluegreen:incus.address": TRUST.address,
    "bluegreen:incus.serverCert": TRUST.serverCert,
    "bluegreen:incus.clientCert": TRUST.clientCert,
    "bluegreen:incus.clientKey": TRUST.clientKey,
};
const keySecret = (k: string): boolean => k === "bluegreen:incus.clientKey";

function problems(all: Record<string, string>, isSecret = keySecret): string[] {
    try {
        loadConfig(all, isSecret, "dev");
        return [];
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.message.includes(KEY_BODY), false, "the key is never in an error");
        return [...e.problems];
    }
}

describe("trust: a remote's certificates from the stack's secrets", () => {
    it("reads all four keys, the key a secret, into the trust of incus.remote", () => {
        const all = { ...base, ...secrets };
        const c = loadConfig(all, keySecret, "dev");
        assert.equal(JSON.stringify(c).includes(KEY_BODY), false, "the key is not in the validated config");
        assert.deepEqual(incusTrustOf(all, c), TRUST);
        assert.equal(incusTrustOf(base, loadConfig(base, keySecret, "dev")), undefined, "none set: the runner's incus config");
    });

    it("refuses the client key in plain config, naming `pulumi config set --secret`", () => {
        assert.deepEqual(
            problems({ ...base, ...secrets }, () => false),
            [
                "bluegreen:incus.clientKey: expected a secret; set it with `pulumi config set --secret bluegreen:incus.clientKey < client.key` (and remove the plain value from the stack file)",
            ],
        );
    });

    it("refuses some keys without the others: all four or none", () => {
        const { ["bluegreen:incus.serverCert"]: _s, ["bluegreen:incus.clientCert"]: _c, ...some } = secrets;
        assert.deepEqual(problems({ ...base, ...some }), [
            "bluegreen:incus: bluegreen:incus.address, bluegreen:incus.clientKey set without bluegreen:incus.serverCert, bluegreen:incus.clientCert: set all four (or none, to use the runner's incus client config)",
        ]);
    });

    it("refuses the keys without incus.remote", () => {
        const { ["bluegreen:incus"]: _r, ...local } = base;
        assert.deepEqual(
            problems({ ...local, "bluegreen:haproxy": '{"frontendPort":18100,"exporterPort":18101}', ...secrets }).filter((p) => p.includes("incus.remote")),
            ["bluegreen:incus.remote: required with bluegreen:incus.address: the certificates are for a remote; name it (bluegreen:incus: {remote: <name>})"],
        );
    });

    it("refuses a value that is not PEM or an address, naming the key and never quoting the value", () => {
        const bad = problems({
            ...base,
            ...secrets,
            "bluegreen:incus.address": "10.0.0.2:8443",
            "bluegreen:incus.serverCert": "not a cert",
            "bluegreen:incus.clientKey": `x${KEY_BODY}`,
        });
        assert.deepEqual(bad, [
            "bluegreen:incus.address: expected https://host:8443 (the remote's API address, no path)",
            "bluegreen:incus.serverCert: expected the remote's server certificate in PEM (-----BEGIN ...-----)",
            "bluegreen:incus.clientKey: expected the client's private key in PEM (-----BEGIN ...-----)",
        ]);
        assert.deepEqual(problems({ ...base, ...secrets, "bluegreen:incus.clientCert": PEM.key }), [
            "bluegreen:incus.clientCert: expected the client certificate in PEM (-----BEGIN ...-----)",
        ]);
    });

    it("makes the client config of that one remote: addr, protocol incus, not public, both certificates and the key", () => {
        assert.deepEqual(clientConfigFiles(TRUST), {
            "config.yml": "remotes:\n  ci:\n    addr: https://10.0.0.2:8443\n    protocol: incus\n    public: false\n",
            "client.crt": TRUST.clientCert,
            "client.key": TRUST.clientKey,
            "servercerts/ci.crt": TRUST.serverCert,
        });
    });

    it("names the directory by a hash of every input: stable, changed by any of them, never showing the key", () => {
        const name = trustDirName(TRUST);
        assert.match(name, /^conf-[0-9a-f]{32}$/);
        assert.equal(trustDirName({ ...TRUST }), name);
        const variants = (Object.keys(TRUST) as (keyof IncusTrust)[]).map((k) => trustDirName({ ...TRUST, [k]: `${TRUST[k]}x` }));
        assert.equal(new Set([name, ...variants]).size, 6);
    });

    it("adds INCUS_CONF to incus commands only, keeping their own env", () => {
        assert.deepEqual(incusConfEnv(["incus", "list"], undefined, "/run/x"), { INCUS_CONF: "/run/x" });
        assert.deepEqual(incusConfEnv(["incus", "exec"], { A: "1" }, "/run/x"), { A: "1", INCUS_CONF: "/run/x" });
        const env = { A: "1" };
        assert.equal(incusConfEnv(["haproxy", "-c"], env, "/run/x"), env);
        assert.equal(incusConfEnv(["incus", "list"], env, undefined), env);
    });
});
