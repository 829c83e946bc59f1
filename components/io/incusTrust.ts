// The private incus client config made from the stack's trust secrets (model/cluster/trust.ts): written
// once per content under a per-user runtime directory, then named by INCUS_CONF on every incus
// command of this process (io/exec.ts). The program and each provider process materialize it
// from their own inputs: a destroy does not run the program.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { IncusTrust, TRUST_KEYS, clientConfigFiles, trustDirName } from "../model/cluster/trust";
import { NAMESPACE } from "../model/config";
import { refusal } from "../model/errors";
import { Cmd, run, setIncusConf } from "./exec";

// Verified directories, on globalThis: each serialized provider carries its own copy of this module.
const VERIFIED = "__bluegreenIncusTrustVerified";
function verified(): Set<string> {
    const g = globalThis as unknown as Record<string, Set<string> | undefined>;
    return (g[VERIFIED] ??= new Set());
}

/** Forgets the trust of this process (tests). */
export function clearIncusTrust(): void {
    setIncusConf(undefined);
    verified().clear();
}

/** Private per-user base: $XDG_RUNTIME_DIR/bluegreen, else <tmp>/bluegreen-<uid>; 0700, ours, not a link. */
export function trustBaseDir(env: NodeJS.ProcessEnv = process.env): string {
    const runtime = env.XDG_RUNTIME_DIR;
    const base = runtime && path.isAbsolute(runtime) ? path.join(runtime, "bluegreen") : path.join(os.tmpdir(), `bluegreen-${process.getuid?.() ?? "user"}`);
    fs.mkdirSync(base, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(base);
    if (!st.isDirectory() || st.isSymbolicLink() || (process.getuid && st.uid !== process.getuid())) {
        throw new Error(`${base} is not a private directory of this user: remove it, or set XDG_RUNTIME_DIR to one`);
    }
    fs.chmodSync(base, 0o700);
    return base;
}

/** Writes the client config (dir 0700, files 0600) if this content is not there yet; returns its directory. */
export function materializeTrust(t: IncusTrust, base = trustBaseDir()): string {
    const dir = path.join(base, trustDirName(t));
    if (fs.existsSync(path.join(dir, "config.yml"))) return dir;
    // Built aside, renamed into place: a reader never sees half a config.
    const tmp = fs.mkdtempSync(path.join(base, ".tmp-"));
    try {
        fs.chmodSync(tmp, 0o700);
        for (const [rel, content] of Object.entries(clientConfigFiles(t))) {
            const file = path.join(tmp, rel);
            fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
            fs.writeFileSync(file, content, { mode: 0o600 });
            fs.chmodSync(file, 0o600);
        }
        try {
            fs.renameSync(tmp, dir);
        } catch (e) {
            // Another process put the same content there first.
            if (!fs.existsSync(path.join(dir, "config.yml"))) throw e;
        }
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    return dir;
}

/** `incus query <remote>:/1.0`: what the remote says of this client (`auth`). */
export function trustCheckCmd(t: IncusTrust): Cmd {
    return { argv: ["incus", "query", `${t.remote}:/1.0`], timeoutMs: 20_000 };
}

const key = (k: keyof typeof TRUST_KEYS) => `${NAMESPACE}:${TRUST_KEYS[k]}`;

/**
 * Pure: the refusal for a failed check, or undefined when the remote trusts this client.
 * A TLS mismatch is refused, never skipped: there is no accept-certificate path.
 */
export function trustCheckProblem(t: IncusTrust, r: { code: number; stdout: string; stderr: string; timedOut?: boolean }): Error | undefined {
    const untouched = "Nothing was touched: no Incus call went past the TLS handshake";
    if (r.code !== 0) {
        const text = `${r.stderr}\n${r.stdout}`;
        if (/tls: (failed to parse private key|private key does not match public key|failed to find any PEM data)/i.test(text)) {
            return refusal({
                what: `${key("clientCert")} and ${key("clientKey")} are not a usable pair: ${/tls: [^\n]*/i.exec(text)![0]}`,
                next: `set a matching pair, as \`incus remote generate-certificate\` writes them (client.crt, client.key in the incus config dir): \`pulumi config set ${key("clientCert")} < client.crt\` and \`pulumi config set --secret ${key("clientKey")} < client.key\``,
                untouched: "Nothing was touched: no Incus call was made",
            });
        }
        if (/x509:|failed to verify certificate/i.test(text)) {
            return refusal({
                what: `${t.remote} (${t.address}) presents a certificate that is not ${key("serverCert")}: TLS refused (a wrong or renewed server certificate, or a different server)`,
                next: [
                    `on the Incus server, \`incus query /1.0 | jq -r .environment.certificate > server.crt\` (a cluster presents its cluster.crt), or take servercerts/${t.remote}.crt from a machine where \`incus remote add ${t.remote} <token>\` ran; then \`pulumi config set ${key("serverCert")} < server.crt\``,
                ],
                untouched,
            });
        }
        return refusal({
            what: `cannot reach ${t.remote} at ${key("address")} ${t.address}${r.timedOut ? " (timed out)" : ""}: ${text.trim().split("\n")[0].slice(0, 300)}`,
            next: `check the address and that this runner can reach it (\`incus query ${t.remote}:/1.0\` with the same config)`,
            untouched,
        });
    }
    let auth: unknown;
    try {
        auth = (JSON.parse(r.stdout) as { auth?: unknown }).auth;
    } catch {
        auth = undefined;
    }
    if (auth !== "trusted") {
        return refusal({
            what: `${t.remote} (${t.address}) does not trust ${key("clientCert")} (auth: ${typeof auth === "string" ? auth : "unknown"})`,
            next: `on the Incus server, \`incus config trust add-certificate client.crt --restricted --projects <project>\`, or make a token with \`incus config trust add <name>\` and run \`incus remote add ${t.remote} <token>\` where the certificate lives`,
            untouched: "Nothing was touched",
        });
    }
    return undefined;
}

/**
 * Makes every later incus command of this process use the trust's client config, after the
 * remote proved it is the one pinned and trusts this client (once per process and content).
 */
export async function useIncusTrust(t: IncusTrust | undefined): Promise<void> {
    if (!t) return;
    const dir = materializeTrust(t);
    setIncusConf(dir);
    if (verified().has(dir)) return;
    const problem = trustCheckProblem(t, await run(trustCheckCmd(t)));
    if (problem) {
        setIncusConf(undefined);
        throw problem;
    }
    verified().add(dir);
}
