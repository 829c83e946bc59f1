// The edge's routing choices per component: how a backend balances its nodes, and the
// operator's own backend lines. Pure: rendered into haproxy.cfg by model/haproxyConfig.ts.

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
