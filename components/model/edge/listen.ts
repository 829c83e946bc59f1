// The edge's listeners (bluegreen:haproxy.listen): where HAProxy answers clients, with TLS
// or a redirect to it. Pure: schema, validation and the config lines they render to.

import { z } from "zod";
import { challengeRule } from "./acme";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const port = z.int("expected an integer port").min(1, "expected a port from 1 to 65535").max(65535, "expected a port from 1 to 65535");

/** Two years: the longest max-age browsers' preload lists ask for. */
export const MAX_HSTS_SECONDS = 63_072_000;

export const listenerSpec = z.strictObject({
    /** IPv4 address to listen on: 0.0.0.0 for every interface. */
    address: z.string().regex(IPV4, "expected an IPv4 address such as 0.0.0.0 or 127.0.0.1"),
    port,
    /** Serve HTTPS with the certificates of bluegreen:tls.certificates. */
    tls: z.boolean().default(false),
    /** A plain-HTTP listener that only answers 301 to the same path on the first TLS listener. */
    redirect: z.literal("https", "expected https").optional(),
    /** Strict-Transport-Security max-age on TLS answers; absent: no HSTS header. */
    hsts: z.int("expected whole seconds").min(0).max(MAX_HSTS_SECONDS, `expected at most ${MAX_HSTS_SECONDS} seconds (two years)`).optional(),
});

export type Listener = z.infer<typeof listenerSpec>;

/** Absent: HAProxy answers only on 127.0.0.1:<frontendPort>, as before. */
export const listenSpec = z.array(listenerSpec).min(1, "expected at least one listener (or remove the key)").optional();

/** Pure: what the schema alone cannot tell about a list of listeners; each problem names its path. */
export function listenProblems(listen: readonly Listener[] | undefined, key: string): string[] {
    if (!listen) return [];
    const problems: string[] = [];
    const seen = new Map<string, number>();
    const tls = listen.filter((l) => l.tls);
    listen.forEach((l, i) => {
        const where = `${key}[${i}]`;
        const at = `${l.address}:${l.port}`;
        if (seen.has(at)) problems.push(`${where}: ${at} is already listener ${seen.get(at)}; keep one`);
        else seen.set(at, i);
        if (l.redirect && l.tls) problems.push(`${where}: redirect: https is for a plain-HTTP listener; remove redirect or tls`);
        if (l.redirect && tls.length === 0) problems.push(`${where}: redirect: https needs a listener with tls: true to send clients to`);
        if (l.hsts !== undefined && !l.tls) problems.push(`${where}: hsts is sent on TLS answers only; set tls: true or remove hsts`);
    });
    const hsts = new Set(tls.map((l) => l.hsts));
    if (hsts.size > 1) {
        problems.push(`${key}: every tls listener is one HAProxy frontend, so they share one hsts; set the same hsts on each (or none)`);
    }
    return problems;
}

/** What renderConfig needs of the edge: the listeners, and how they reach HAProxy. */
export interface EdgeModel {
    readonly listen: readonly Listener[];
    /**
     * Incus placement: each listener is a proxy device on the host that speaks the PROXY
     * protocol to HAProxy on 127.0.0.1:<port> inside the instance. Host placement: HAProxy binds the address itself.
     */
    readonly proxyProtocol: boolean;
    /** The certificate files a TLS bind loads (model/edge/tls.ts certificatePath), sorted. */
    readonly certificates: readonly string[];
    /** bluegreen:tls.acme: the map HAProxy answers HTTP-01 challenges from (model/edge/acme.ts). */
    readonly challengeMap?: string;
}

/** Pure: where HAProxy binds for a listener: inside the instance, loopback behind the proxy device. */
function bindAddress(l: Listener, e: EdgeModel): string {
    return `${e.proxyProtocol ? "127.0.0.1" : l.address}:${l.port}`;
}

function bindLine(l: Listener, e: EdgeModel): string {
    const tls = l.tls ? ` ssl ${e.certificates.map((c) => `crt ${c}`).join(" ")}` : "";
    return `bind ${bindAddress(l, e)}${e.proxyProtocol ? " accept-proxy" : ""}${tls}`;
}

/** Pure: the lines fe_main gets for the listeners that serve traffic (not the redirecting ones). */
export function edgeFrontendLines(e: EdgeModel | undefined): string[] {
    if (!e) return [];
    const served = e.listen.filter((l) => !l.redirect);
    const hsts = e.listen.find((l) => l.tls && l.hsts !== undefined)?.hsts;
    return [
        ...served.map((l) => bindLine(l, e)),
        ...(e.challengeMap ? [challengeRule(e.challengeMap)] : []),
        // The client's address (PROXY protocol behind Incus), for the app; what a client sent is dropped first.
        "http-request del-header X-Forwarded-For",
        "option forwardfor",
        "http-request del-header X-Forwarded-Proto",
        "http-request set-header X-Forwarded-Proto https if { ssl_fc }",
        ...(hsts !== undefined ? [`http-response set-header Strict-Transport-Security "max-age=${hsts}" if { ssl_fc }`] : []),
    ];
}

/** Pure: the port a redirect sends clients to: the first TLS listener's. */
export function httpsPort(e: EdgeModel): number | undefined {
    return e.listen.find((l) => l.tls)?.port;
}

/** Pure: the redirect target, as an HAProxy log-format string: same host (its port dropped) and URI, on the TLS port. */
export function redirectLocation(port: number): string {
    return `https://%[req.hdr(host),field(1,:)]${port === 443 ? "" : `:${port}`}%[capture.req.uri]`;
}

/** Pure: one small frontend per redirecting listener; none without. */
export function edgeRedirectSections(e: EdgeModel | undefined): string[] {
    if (!e) return [];
    const to = httpsPort(e);
    if (to === undefined) return [];
    return e.listen
        .filter((l) => l.redirect === "https")
        .flatMap((l) => [
            "",
            `frontend fe_redirect_${l.port}`,
            `    ${bindLine(l, e)}`,
            // The CA asks on plain HTTP; it would follow the redirect, but answering here needs no TLS yet.
            ...(e.challengeMap ? [`    ${challengeRule(e.challengeMap)}`] : []),
            `    http-request redirect location ${redirectLocation(to)} code 301`,
        ]);
}
