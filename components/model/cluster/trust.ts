// Trust in an Incus remote from the stack's secrets: the files of a private incus client
// config naming that one remote, so a runner with no persistent incus config can reach it.
// Pure: the directory is written by io/incusTrust.ts.

import { createHash } from "crypto";
import { z } from "zod";

/** What the stack's secrets give: the remote's address and both sides' certificates. */
export interface IncusTrust {
    /** The `incus remote` name the program's commands use (`remote:instance`). */
    readonly remote: string;
    /** https://host:8443 */
    readonly address: string;
    readonly serverCert: string;
    readonly clientCert: string;
    /** Private: a Pulumi secret; never in an error, a log or plain state. */
    readonly clientKey: string;
}

/** The trust keys, as set with `pulumi config set` (literal names, no --path). */
export const TRUST_KEYS = { address: "incus.address", serverCert: "incus.serverCert", clientCert: "incus.clientCert", clientKey: "incus.clientKey" } as const;

const pem = (label: RegExp, what: string) =>
    z
        .string(`expected ${what} in PEM`)
        .refine(
            (t) => new RegExp(`^\\s*-----BEGIN (${label.source})-----\\r?\\n[A-Za-z0-9+/=\\r\\n]+-----END (${label.source})-----\\s*$`).test(t),
            `expected ${what} in PEM (-----BEGIN ...-----)`,
        );

/** The trust keys' shapes. Messages never quote a value. */
export const trustSpec = z.strictObject({
    address: z
        .string("expected https://host:8443")
        .regex(/^https:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, "expected https://host:8443 (the remote's API address, no path)"),
    serverCert: pem(/CERTIFICATE/, "the remote's server certificate"),
    clientCert: pem(/CERTIFICATE/, "the client certificate"),
    clientKey: pem(/(EC |RSA )?PRIVATE KEY/, "the client's private key"),
});

/** The files of the client config, relative to its directory (written 0600 in a 0700 directory). */
export function clientConfigFiles(t: IncusTrust): Record<string, string> {
    // No default-remote: an unprefixed name still means this machine's daemon, as in any incus config.
    const config = ["remotes:", `  ${t.remote}:`, `    addr: ${t.address}`, "    protocol: incus", "    public: false", ""].join("\n");
    return {
        "config.yml": config,
        "client.crt": t.clientCert,
        "client.key": t.clientKey,
        [`servercerts/${t.remote}.crt`]: t.serverCert,
    };
}

/** The directory's name: a hash of every input, so a changed secret gets a new directory and an old one is reused. */
export function trustDirName(t: IncusTrust): string {
    const h = createHash("sha256");
    for (const v of [t.remote, t.address, t.serverCert, t.clientCert, t.clientKey]) h.update(`${v.length}:${v}`);
    return `conf-${h.digest("hex").slice(0, 32)}`;
}

/** Pure: `cmd`'s environment with INCUS_CONF added, for the incus CLI only. */
export function incusConfEnv(
    argv: readonly string[],
    env: Readonly<Record<string, string>> | undefined,
    confDir: string | undefined,
): Readonly<Record<string, string>> | undefined {
    if (!confDir || argv[0] !== "incus") return env;
    return { ...env, INCUS_CONF: confDir };
}
