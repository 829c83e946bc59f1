// The LB-side check per node (seed 002): after a node is put back in rotation, one request
// through the frontend must be answered by that node. HAProxy names the server that answered
// (the app knows nothing of it). A request carrying the stack's probe token (the maintenance
// map's, model/edge/maintenance.ts) and a server's name is routed to that server. Pure.

import { PROBE_HEADER, PROBE_VALUE } from "./maintenance";

/** Response header HAProxy sets on every answer of a component backend: the server that answered. */
export const SERVER_HEADER = "x-bluegreen-server";
/** Request header naming the server a token-bearing request must reach. */
export const NODE_HEADER = "x-bluegreen-node";

/** Pure: the backend line that names the server in every answer. */
export function serverHeaderLine(): string {
    return `http-response set-header ${SERVER_HEADER} %[srv_name]`;
}

/**
 * Pure: one `use-server` rule per server. No force-persist: a server that is down is not
 * used, so the request goes elsewhere and the check fails, as it should.
 */
export function nodeRouteLines(mapFile: string, servers: readonly string[]): string[] {
    return servers.map(
        (s) => `use-server ${s} if { req.hdr(${PROBE_HEADER}),map(${mapFile},-) -m str ${PROBE_VALUE} } { req.hdr(${NODE_HEADER}) -m str ${s} }`,
    );
}

/** Pure: the request headers that reach `server` (the token is a secret: never log them). */
export function nodeProbeHeaders(token: string, server: string): Record<string, string> {
    return { [PROBE_HEADER]: token, [NODE_HEADER]: server };
}

/** Pure: whether a rendered config routes token requests to `backend`/`server` (a config rendered before this check did not). */
export function routesNode(config: string, backend: string, server: string, mapFile: string): boolean {
    const rule = nodeRouteLines(mapFile, [server])[0];
    let current = "";
    for (const line of config.split("\n")) {
        const section = /^(\S+)\s+(\S+)?/.exec(line);
        if (section) current = section[1] === "backend" ? (section[2] ?? "") : "";
        else if (current === backend && line.trim() === rule) return true;
    }
    return false;
}

/** Pure: why an answer to the node probe does not prove HAProxy routes through `server` on `release`; undefined when it does. */
export function nodeProbeProblem(
    p: { readonly status: number; readonly headers: Readonly<Record<string, string | undefined>>; readonly detail?: string },
    server: string,
    release: string,
    releaseHeader: string,
): string | undefined {
    if (p.status === 0) return `no answer (${p.detail ?? "no detail"})`;
    const by = p.headers[SERVER_HEADER];
    const rel = p.headers[releaseHeader];
    if (by !== server) return `HTTP ${p.status} answered by ${by ?? "no server"}, not ${server}`;
    if (rel !== release) return `HTTP ${p.status} from ${server} on ${rel ?? "no release"}, not ${release}`;
    return undefined;
}
