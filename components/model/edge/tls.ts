// bluegreen:tls.certificates: a Pulumi secret holding PEM bundles (certificate chain and
// private key), by name. Pure: parsing and checks that never put a value in a message,
// the file each bundle becomes on the HAProxy host, and the runtime API's hot swap.

import * as crypto from "crypto";
import type { HaproxyLayout } from "../naming";

/** The config key, flat like the incus.* trust keys: `pulumi config set --secret bluegreen:tls.certificates …`. */
export const CERTIFICATES_KEY = "tls.certificates";

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
/** A bundle's name when the secret is one PEM bundle rather than a JSON object. */
export const DEFAULT_CERTIFICATE = "default";

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END \1-----/g;

/** Pure: a bundle as HAProxy's CLI payload takes it: LF only, no blank line (one ends the payload), one final newline. */
export function normalizePem(pem: string): string {
    return (
        pem
            .replace(/\r/g, "")
            .split("\n")
            .map((l) => l.trimEnd())
            .filter((l) => l !== "")
            .join("\n") + "\n"
    );
}

/** Pure: a bundle's problems (never its text): one private key, a certificate it matches, only PEM blocks. */
export function bundleProblems(pem: string): string[] {
    const blocks = [...pem.matchAll(BLOCK)].map((m) => ({ label: m[1], text: m[0] }));
    const rest = pem.replace(BLOCK, "").trim();
    if (blocks.length === 0 || rest !== "") return ["expected PEM blocks only (-----BEGIN ...-----), the certificate chain and its private key"];
    const certs = blocks.filter((b) => b.label === "CERTIFICATE");
    const keys = blocks.filter((b) => /PRIVATE KEY$/.test(b.label));
    if (certs.length === 0) return ["expected a CERTIFICATE block (the server's certificate first, then its chain)"];
    if (keys.length !== 1) return [`expected one PRIVATE KEY block, found ${keys.length}`];
    try {
        const cert = new crypto.X509Certificate(certs[0].text);
        if (!cert.checkPrivateKey(crypto.createPrivateKey(keys[0].text))) return ["the private key does not belong to the first certificate"];
    } catch (e) {
        return [`cannot be read as a certificate and key (${(e as Error).message.replace(/\s+/g, " ").slice(0, 80)})`];
    }
    return [];
}

/**
 * Pure: the bundles by name, from the secret's text: a JSON object `{ "<name>": "<pem>" }`,
 * or one PEM bundle (named `default`). Problems name the key and the bundle, never a value.
 */
export function parseCertificates(text: string, key = `bluegreen:${CERTIFICATES_KEY}`): { bundles: Record<string, string>; problems: string[] } {
    const t = text.trim();
    let raw: unknown;
    if (t.startsWith("-----BEGIN")) raw = { [DEFAULT_CERTIFICATE]: t };
    else {
        try {
            raw = JSON.parse(t);
        } catch {
            raw = undefined;
        }
    }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
        return {
            bundles: {},
            problems: [`${key}: expected one PEM bundle, or a JSON object {"<name>": "<PEM bundle>"} (the value is not shown: it is a secret)`],
        };
    }
    const bundles: Record<string, string> = {};
    const problems: string[] = [];
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length === 0) problems.push(`${key}: expected at least one certificate (or remove the key)`);
    for (const [name, pem] of entries) {
        if (!NAME.test(name)) problems.push(`${key}.${name}: expected a name of lowercase letters, digits and single inner hyphens`);
        else if (typeof pem !== "string") problems.push(`${key}.${name}: expected a PEM bundle as a string`);
        else {
            const p = bundleProblems(normalizePem(pem));
            if (p.length) problems.push(...p.map((x) => `${key}.${name}: ${x}`));
            else bundles[name] = normalizePem(pem);
        }
    }
    return { bundles, problems };
}

/** Pure: the directory of the certificate files on the HAProxy host, beside the stack's state. */
export function certificateDir(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/certs`;
}

/** Pure: the file a named bundle is written to, and HAProxy loads (`crt <file>`) and swaps by. */
export function certificatePath(layout: Pick<HaproxyLayout, "stateDir">, name: string): string {
    return `${certificateDir(layout)}/${name}.pem`;
}

/** Pure: the names whose bundle differs between two sets, sorted: added, changed, removed. */
export function certificateChanges(
    olds: Readonly<Record<string, string>>,
    news: Readonly<Record<string, string>>,
): { added: string[]; changed: string[]; removed: string[] } {
    const sort = (a: string[]) => a.sort();
    return {
        added: sort(Object.keys(news).filter((n) => !(n in olds))),
        changed: sort(Object.keys(news).filter((n) => n in olds && olds[n] !== news[n])),
        removed: sort(Object.keys(olds).filter((n) => !(n in news))),
    };
}

/** Pure: the runtime API's payload that stages a new bundle for a loaded file (then `commit ssl cert`). */
export function setSslCertCommand(file: string, pem: string): string {
    return `set ssl cert ${file} <<\n${normalizePem(pem)}`;
}

export function commitSslCertCommand(file: string): string {
    return `commit ssl cert ${file}`;
}

/** Pure: the files `show ssl cert` lists (one per line, after a `#` header). */
export function parseShowSslCert(text: string): string[] {
    return text
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
}
