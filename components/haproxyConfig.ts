// Renders haproxy.cfg. Pure: the same model always gives the same text.
// Both colors' servers are always present; the active color has weight, the other
// has weight 0, so a switch can be a runtime weight flip with no reload.

import type { Color } from "./naming";
import { haproxyBackendName } from "./naming";

export const ACTIVE_WEIGHT = 100;

export interface ServerModel {
    readonly color: Color;
    /** Loopback port the server is reached on from HAProxy's host. */
    readonly port: number;
}

export interface BackendModel {
    readonly component: string;
    readonly route: string;
    readonly healthPath: string;
    readonly servers: readonly ServerModel[];
}

export interface HaproxyModel {
    readonly stack: string;
    /** The color given weight; undefined renders every server at weight 0. */
    readonly active?: Color;
    readonly release?: string;
    readonly frontendPort: number;
    readonly exporterPort: number;
    readonly adminSocket: string;
    readonly pidFile: string;
    readonly backends: readonly BackendModel[];
    readonly extra: { readonly global: readonly string[]; readonly defaults: readonly string[]; readonly frontend: readonly string[] };
}

const NOT_FOUND_BACKEND = "be_no_route";

function routeAcl(route: string): string {
    const r = route.replace(/\/+$/, "");
    return `{ path ${r} } || { path_beg ${r}/ }`;
}

export function renderConfig(m: HaproxyModel): string {
    const lines: string[] = [];
    const add = (...l: string[]) => lines.push(...l);
    const indent = (l: readonly string[]) => l.map((x) => `    ${x}`);

    add(`# Managed by bluegreen for stack ${m.stack}; changes by hand are overwritten.`);
    add(`# active: ${m.active ?? "none"} ${m.release ?? "-"}`);
    add("global");
    add(
        ...indent([
            "master-worker",
            // expose-fd lets a reloaded worker take over the listening sockets: no refused connections.
            `stats socket ${m.adminSocket} mode 600 level admin expose-fd listeners`,
            `pidfile ${m.pidFile}`,
            "hard-stop-after 30s",
            ...m.extra.global,
        ]),
    );
    add("", "defaults");
    add(
        ...indent([
            "mode http",
            "timeout connect 2s",
            "timeout client 30s",
            "timeout server 30s",
            "timeout http-keep-alive 10s",
            // On reload, answer the next request on an idle keep-alive connection before closing it.
            "option idle-close-on-response",
            "option redispatch",
            "retries 2",
            ...m.extra.defaults,
        ]),
    );

    const routed = [...m.backends].filter((b) => b.route !== "/").sort((a, b) => b.route.length - a.route.length || a.route.localeCompare(b.route));
    const root = m.backends.find((b) => b.route === "/");
    add("", "frontend fe_main");
    add(
        ...indent([
            `bind 127.0.0.1:${m.frontendPort}`,
            ...routed.map((b) => `use_backend ${haproxyBackendName(b.component)} if ${routeAcl(b.route)}`),
            `default_backend ${root ? haproxyBackendName(root.component) : NOT_FOUND_BACKEND}`,
            ...m.extra.frontend,
        ]),
    );
    add("", "frontend fe_metrics");
    add(...indent([`bind 127.0.0.1:${m.exporterPort}`, "http-request use-service prometheus-exporter if { path /metrics }", "http-request return status 404"]));

    for (const b of [...m.backends].sort((x, y) => x.component.localeCompare(y.component))) {
        add("", `backend ${haproxyBackendName(b.component)}`);
        add(
            ...indent([
                `option httpchk GET ${b.healthPath}`,
                "http-check expect status 200",
                "default-server inter 1s fall 2 rise 2",
                ...b.servers.map((s) => `server ${s.color} 127.0.0.1:${s.port} check weight ${s.color === m.active ? ACTIVE_WEIGHT : 0}`),
            ]),
        );
    }
    if (!root) {
        add("", `backend ${NOT_FOUND_BACKEND}`);
        add(...indent(['http-request return status 404 content-type text/plain string "no route"']));
    }
    return lines.join("\n") + "\n";
}

/** Pure: the config with weights and the header blanked. Equal shapes can switch without a reload. */
export function configShape(text: string): string {
    return text
        .split("\n")
        .filter((l) => !l.startsWith("# active:"))
        .map((l) => l.replace(/ weight \d+$/, " weight W"))
        .join("\n");
}

/** Pure: the weight each (backend, server) gets under this model. */
export function desiredWeights(m: HaproxyModel): { backend: string; server: Color; weight: number }[] {
    return m.backends.flatMap((b) =>
        b.servers.map((s) => ({ backend: haproxyBackendName(b.component), server: s.color, weight: s.color === m.active ? ACTIVE_WEIGHT : 0 })),
    );
}
