// The edge's routing choices per component: how a backend balances its nodes, and the
// operator's own backend lines. Pure: rendered into haproxy.cfg by model/traffic/haproxyConfig.ts.

import { z } from "zod";

/** HAProxy's balance algorithms bluegreen offers; `hdr(<name>)` hashes one request header. */
const BALANCE = /^(roundrobin|leastconn|uri|source|hdr\([A-Za-z0-9-]{1,64}\))$/;

export const DEFAULT_BALANCE = "roundrobin";

export const balanceSpec = z
    .string("expected roundrobin, leastconn, uri, source or hdr(<header>)")
    .regex(BALANCE, "expected roundrobin, leastconn, uri, source or hdr(<header>) with a header name of letters, digits and -");

/** Pure: true for the algorithms that hash a request's key onto a server. */
export function isHashBalance(balance: string): boolean {
    return balance === "uri" || balance === "source" || balance.startsWith("hdr(");
}

/**
 * Pure: a backend's balance lines; none for the default, so a config without the key
 * renders as before. A hash is consistent: a node joining or leaving moves only its share
 * of the keys, so a track stays on its node through a pool's growth.
 */
export function balanceLines(balance: string | undefined): string[] {
    if (!balance || balance === DEFAULT_BALANCE) return [];
    return [`balance ${balance}`, ...(isHashBalance(balance) ? ["hash-type consistent"] : [])];
}

/** A DNS name HAProxy matches the Host header against: lowercase labels, no port, no wildcard. */
const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const hostSpec = z.string("expected a host name").regex(HOST, "expected a lowercase DNS name such as api.example.com (no port, scheme or wildcard)");

export const hostsSpec = z
    .array(hostSpec)
    .min(1, "expected at least one host (leave the key out to match any host)")
    .superRefine((a, ctx) => {
        for (const h of new Set(a.filter((h, i) => a.indexOf(h) !== i))) ctx.addIssue({ code: "custom", message: `${h} is named twice` });
    });

/** Pure: the route a request claims, for overlap checks: a path prefix within a host, or within any host. */
export function routeKey(prefix: string, host?: string): string {
    return `${host ?? "*"} ${prefix}`;
}

/** Pure: the route's name in messages: `/api` or `/api on api.example.com`. */
export function describeRoute(route: string, host?: string): string {
    return host ? `${route} on ${host}` : route;
}

/** One frontend rule: requests on `route` (a prefix, "/" for all), on any of `hosts` when set, go to `backend`. */
export interface RouteUse {
    readonly route: string;
    readonly backend: string;
    readonly hosts?: readonly string[];
}

/** Pure: the Host header without its port, matched case-insensitively against the names. */
function hostAcl(hosts: readonly string[]): string {
    return `{ hdr(host),field(1,:) -m str -i ${hosts.join(" ")} }`;
}

/** Pure: the TLS client's SNI, matched case-insensitively against the names. */
function sniAcl(hosts: readonly string[]): string {
    return `{ ssl_fc_sni -m str -i ${hosts.join(" ")} }`;
}

/**
 * Pure: the frontend's `use_backend` lines and its default backend. A rule with hosts comes
 * before every rule without, so a host's own routes win; within each, the longest prefix first.
 * A path prefix matches itself and below (`/api`, `/api/..`), never `/apix`. With `sni` (a TLS
 * listener), each host's routes are matched again on the SNI after all Host header rules: the
 * Host header decides when it names a host, the SNI when it names none (an address, another name).
 */
export function frontendRules(
    uses: readonly RouteUse[],
    notFound: string,
    prefixOf: (route: string) => string,
    /** An ACL every rule also needs (the preview's); then "/" on any host is a rule too, not the fallback. */
    when?: string,
    sni = false,
): { rules: string[]; fallback: string } {
    const order = (a: RouteUse, b: RouteUse) => b.route.length - a.route.length || a.route.localeCompare(b.route) || a.backend.localeCompare(b.backend);
    const hosted = uses.filter((u) => u.hosts?.length).sort(order);
    const any = uses.filter((u) => !u.hosts?.length);
    const rule = (u: RouteUse, acl = hostAcl) => {
        const conds = [...(when ? [when] : []), ...(u.hosts?.length ? [acl(u.hosts)] : [])].join(" ");
        if (u.route === "/") return `use_backend ${u.backend} if ${conds}`;
        const r = prefixOf(u.route);
        const c = conds ? `${conds} ` : "";
        return `use_backend ${u.backend} if ${c}{ path ${r} } || ${c}{ path_beg ${r}/ }`;
    };
    const root = when ? undefined : any.find((u) => u.route === "/");
    return {
        rules: [
            ...hosted.map((u) => rule(u)),
            ...(sni ? hosted.map((u) => rule(u, sniAcl)) : []),
            ...any
                .filter((u) => u.route !== "/")
                .sort(order)
                .map((u) => rule(u)),
            ...(when ? any.filter((u) => u.route === "/").map((u) => rule(u)) : []),
        ],
        fallback: root ? root.backend : notFound,
    };
}
