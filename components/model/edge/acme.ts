// bluegreen:tls.acme: certificates from an ACME CA (Let's Encrypt, or pebble in the tests)
// over HTTP-01. HAProxy answers the challenge itself, from a map the runtime API fills while
// an order is open, so nothing else listens and it works wherever HAProxy is placed.
// Pure: the schema, when to renew, the challenge rule and the files on the HAProxy host.

import * as crypto from "crypto";
import { z } from "zod";
import type { HaproxyLayout } from "../naming";

/** The config key, flat like tls.certificates: `pulumi config set --path bluegreen:tls.acme.email …`. */
export const ACME_KEY = "tls.acme";

/** Let's Encrypt renews at 30 days left; so do we, on any `up`. */
export const RENEW_BEFORE_DAYS = 30;

const DOMAIN = /^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

export const acmeSpec = z.strictObject({
    /** The CA's directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory. */
    directory: z.url({ protocol: /^https$/, error: "expected the https:// URL of the ACME directory" }),
    /** The account's contact: expiry and revocation notices go there. */
    email: z.email("expected an email address"),
    /** The names on the certificate, the first one its subject. */
    domains: z
        .array(z.string().regex(DOMAIN, "expected a fully qualified lowercase domain name such as www.example.com"))
        .min(1, "expected at least one domain"),
    /** Renew when fewer days are left (default 30). */
    renewBeforeDays: z.int("expected whole days").min(1).max(89).default(RENEW_BEFORE_DAYS),
});

export type AcmeConfig = z.infer<typeof acmeSpec>;

/** Pure: problems the schema alone cannot see; each names its path. */
export function acmeProblems(acme: AcmeConfig | undefined, key = `bluegreen:${ACME_KEY}`): string[] {
    if (!acme) return [];
    const problems: string[] = [];
    const seen = new Set<string>();
    acme.domains.forEach((d, i) => {
        if (seen.has(d)) problems.push(`${key}.domains[${i}]: ${d} is listed twice; keep one`);
        seen.add(d);
        if (d.startsWith("*.")) problems.push(`${key}.domains[${i}]: a wildcard needs DNS-01, and bluegreen answers HTTP-01 only; list each name`);
    });
    return problems;
}

/** The bundle name of the ACME certificate among tls.certificates' (model/edge/tls.ts certificatePath). */
export const ACME_CERTIFICATE = "acme";

/** What the state keeps of an issued certificate: never its key. */
export interface IssuedCertificate {
    readonly domains: readonly string[];
    readonly directory: string;
    /** ISO time. */
    readonly notAfter: string;
    readonly serial: string;
    /** SHA-256 fingerprint of the leaf, as Node's X509Certificate gives it. */
    readonly fingerprint: string;
}

/** Pure: why the certificate must be (re)issued now, or undefined when it is good. */
export function renewalReason(issued: IssuedCertificate | undefined, acme: AcmeConfig, now: Date): string | undefined {
    if (!issued) return "no certificate yet";
    if (issued.directory !== acme.directory) return `the CA changed (${issued.directory} -> ${acme.directory})`;
    const want = [...acme.domains].sort().join(",");
    if ([...issued.domains].sort().join(",") !== want) return `the domains changed (${issued.domains.join(", ")} -> ${acme.domains.join(", ")})`;
    const left = daysLeft(issued, now);
    if (left < acme.renewBeforeDays) return `${describeDays(left)} left, under ${acme.renewBeforeDays}`;
    return undefined;
}

/** Pure: whole and fractional days until the certificate expires (negative once expired). */
export function daysLeft(issued: Pick<IssuedCertificate, "notAfter">, now: Date): number {
    return (Date.parse(issued.notAfter) - now.getTime()) / 86_400_000;
}

function describeDays(d: number): string {
    return d < 0 ? `expired ${Math.ceil(-d)} day(s) ago,` : `${Math.floor(d)} day(s)`;
}

/** Pure: one line for status and progress. */
export function describeCertificate(issued: Pick<IssuedCertificate, "domains" | "notAfter" | "serial">, now: Date): string {
    const left = daysLeft(issued, now);
    return `${issued.domains.join(", ")}: expires ${issued.notAfter.slice(0, 10)} (${left < 0 ? "expired" : `${Math.floor(left)} days left`}), serial ${issued.serial}`;
}

/** Pure: the challenge map on the HAProxy host: `<token> <key authorization>` while an order is open. */
export function challengeMapPath(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/acme-challenges.map`;
}

/** Pure: the account key (PEM) on the HAProxy host, root-only: the same account on every renewal. */
export function accountKeyPath(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/acme-account.key`;
}

export const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

/**
 * Pure: the rule every frontend that serves plain HTTP starts with: HAProxy answers a token it
 * holds, and anything else goes on (to a redirect or a backend) as before.
 */
export function challengeRule(mapFile: string): string {
    const token = `path,field(4,/),map(${mapFile})`;
    return `http-request return status 200 content-type text/plain lf-string %[${token}] if { path_beg ${CHALLENGE_PREFIX} } { ${token} -m found }`;
}

/** Pure: the runtime API commands that publish and withdraw a challenge's answer. */
export function addChallengeCommand(mapFile: string, token: string, keyAuthorization: string): string {
    assertToken(token);
    assertToken(keyAuthorization.replace(".", ""));
    return `add map ${mapFile} ${token} ${keyAuthorization}`;
}

export function delChallengeCommand(mapFile: string, token: string): string {
    assertToken(token);
    return `del map ${mapFile} ${token}`;
}

// RFC 8555 tokens and thumbprints are base64url: nothing that could split a runtime API command.
function assertToken(t: string): void {
    if (!/^[A-Za-z0-9_-]{16,}$/.test(t)) throw new Error("an ACME token or key authorization is not base64url; refusing to pass it to HAProxy");
}

/** A served certificate as status shows it (a tls.certificates bundle or the ACME one). */
export interface CertificateView {
    readonly name: string;
    readonly domains: readonly string[];
    readonly notAfter: string;
    readonly serial: string;
}

/** Pure: the first certificate of a PEM text (the leaf of a bundle), or undefined when there is none readable. */
export function leafCertificate(pem: string): crypto.X509Certificate | undefined {
    const end = pem.indexOf("-----END CERTIFICATE-----");
    if (end < 0) return undefined;
    try {
        return new crypto.X509Certificate(pem.slice(0, end + "-----END CERTIFICATE-----".length));
    } catch {
        return undefined;
    }
}

/** Pure: what status shows of a bundle's leaf; the key in the same text is never read. Undefined when unreadable. */
export function certificateView(name: string, pem: string): CertificateView | undefined {
    const leaf = leafCertificate(pem);
    if (!leaf) return undefined;
    const domains = (leaf.subjectAltName ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.startsWith("DNS:"))
        .map((s) => s.slice(4));
    return { name, domains, notAfter: new Date(leaf.validTo).toISOString(), serial: leaf.serialNumber };
}

/** Pure: one status line. */
export function describeCertificateView(c: CertificateView, now: Date): string {
    return `${c.name} (${describeCertificate(c, now)})`;
}
