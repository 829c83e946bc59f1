// Renders haproxy.cfg. Pure: the same model always gives the same text.
// Both colors' servers are always present, weighted by the traffic split, so a
// switch can be a runtime weight change with no reload. A reload keeps runtime
// state (a drained server, a weight set live) through HAProxy's server-state file.

import { COLORS, Color, NOT_FOUND_BACKEND, haproxyBackendName, routePrefix, serverName, serviceBackendName } from "../naming";
import { LOOPBACK, loopbackAddress } from "./topology";
import { balanceLines, frontendRules } from "../edge/routing";
import { PREVIEW_ACL, PreviewSpec, previewAcls, previewBackendName, previewServerName } from "../edge/preview";
import { MaintenanceModel, maintenanceLines } from "../edge/maintenance";
import { accessLogLines } from "../edge/accessLog";
import { FULL_WEIGHT, Pool, TrafficSplit, colorOfServer, describeSplit, desiredWeights } from "./traffic";
import { EdgeModel, edgeFrontendLines, edgeRedirectSections } from "../edge/listen";
import { stickyLines } from "../edge/sticky";
import { nodeRouteLines, serverHeaderLine } from "../edge/nodeProbe";

/** The weight of a color that takes all traffic. */
export const ACTIVE_WEIGHT = FULL_WEIGHT;

/** Response headers HAProxy adds: the color and the release of the server that answered. */
export const COLOR_HEADER = "x-bluegreen-color";
export const RELEASE_HEADER = "x-bluegreen-release";
/** Set on answers from a routed stateful service: its name. */
export const SERVICE_HEADER = "x-bluegreen-service";

/**
 * Pure: the releases map file: one `<server> <release>` line per server name, `-` for
 * none. Keyed by server, not color, so the nodes of one pool may run different releases.
 */
export function renderReleasesMap(releases: Readonly<Record<string, string | undefined>>, servers: readonly string[] = COLORS): string {
    return servers.map((s) => `${s} ${releases[s] ?? "-"}\n`).join("");
}

/** Pure: the releases a map file names, by server. */
export function parseReleasesMap(text: string | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of (text ?? "").split("\n")) {
        const [server, release] = line.trim().split(/\s+/);
        if (server && colorOfServer(server) && release && release !== "-") out[server] = release;
    }
    return out;
}

/** Pure: the servers whose release differs between two map texts ("-" and absent are alike). */
export function releasesMapChanges(had: string | undefined, want: string | undefined): string[] {
    const [a, b] = [parseReleasesMap(had), parseReleasesMap(want)];
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((s) => a[s] !== b[s]).sort();
}

/** Pure: every server name of the model, once, in backend order (a name is shared across backends). */
export function serverNames(m: Pick<HaproxyModel, "backends">): string[] {
    return [...new Set(poolsOf(m).flatMap((p) => p.servers.map((s) => s.name)))];
}

export interface ServerModel {
    readonly color: Color;
    /** Its node in the color's pool; absent for a pool of one. */
    readonly node?: number;
    /** Loopback port the server is reached on from HAProxy's host; with `address`, the app's port there. */
    readonly port: number;
    /** Its routed address (bluegreen:network mode routed); absent: loopback. */
    readonly address?: string;
}

export interface BackendModel {
    readonly component: string;
    readonly route: string;
    readonly healthPath: string;
    /** Statuses a healthy answer has, as `http-check expect status` reads them. */
    readonly healthStatus: string;
    /** Text the healthy answer's body contains. */
    readonly healthBody?: string;
    readonly servers: readonly ServerModel[];
    /** components.<name>.hosts: matched on the Host header, the route within them; absent: any host. */
    readonly hosts?: readonly string[];
    /** components.<name>.balance; absent: roundrobin. */
    readonly balance?: string;
    /** components.<name>.haproxy: the operator's own backend lines. */
    readonly extra?: readonly string[];
}

/** A stateful service behind a route: one server, never weighted, outside every switch. */
export interface ServiceBackendModel {
    readonly service: string;
    readonly route: string;
    readonly healthPath: string;
    readonly healthStatus: string;
    readonly healthBody?: string;
    /** Its loopback port on the Incus host; with `address`, its own port there. */
    readonly port: number;
    /** Its routed address (bluegreen:network mode routed); absent: loopback. */
    readonly address?: string;
}

export interface HaproxyModel {
    readonly stack: string;
    /** The traffic each color gets; empty renders every server at weight 0. */
    readonly split: TrafficSplit;
    readonly release?: string;
    readonly frontendPort: number;
    readonly exporterPort: number;
    readonly adminSocket: string;
    readonly pidFile: string;
    /** Where runtime server state is saved before a reload and loaded from after it. */
    readonly serverStateFile: string;
    /** Map file `<server> <release>`: HAProxy names the release that answered, not the app. */
    readonly releasesMap: string;
    readonly backends: readonly BackendModel[];
    /** Absent or empty: no stateful service is routed. */
    readonly services?: readonly ServiceBackendModel[];
    readonly extra: { readonly global: readonly string[]; readonly defaults: readonly string[]; readonly frontend: readonly string[] };
    /** bluegreen:haproxy.listen; absent: only the loopback frontend. */
    readonly edge?: EdgeModel;
    /** bluegreen:maintenance (model/edge/maintenance.ts); absent: no maintenance rule. */
    readonly maintenance?: MaintenanceModel;
    /** bluegreen:accessLog: the receiver's UDP port on loopback; absent: no request log. */
    readonly accessLogPort?: number;
    /** bluegreen:preview, and the color it reaches (the one not active); absent: no preview route. */
    readonly preview?: { readonly match: PreviewSpec; readonly color: Color };
    /** bluegreen:progressive.sticky or canary.sticky: cookie persistence per backend (model/edge/sticky.ts); absent: none. */
    readonly sticky?: boolean;
    /** The map holding the stack's probe token: token requests naming a server reach it (model/edge/nodeProbe.ts); absent: no such route. */
    readonly probeMap?: string;
}

/** The health check lines a backend of either kind starts with. */
function checkLines(b: Pick<BackendModel, "healthPath" | "healthStatus" | "healthBody">): string[] {
    return [
        `option httpchk GET ${b.healthPath}`,
        `http-check expect status ${b.healthStatus}`,
        // A body-only expect would pass a 500 that says the word: the status rule always comes first.
        ...(b.healthBody ? [`http-check expect string ${b.healthBody}`] : []),
        // A server that is down, or on its way up or down, is checked every 250 ms: a node back
        // from a restart (a canary install or its rollback) serves in about 0.5 s, not 2 s,
        // and a dead one leaves rotation sooner. A healthy one is still checked once a second.
        "default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2",
    ];
}

export function renderConfig(m: HaproxyModel): string {
    const lines: string[] = [];
    const add = (...l: string[]) => lines.push(...l);
    const indent = (l: readonly string[]) => l.map((x) => `    ${x}`);

    add(`# Managed by bluegreen for stack ${m.stack}; changes by hand are overwritten.`);
    add(`# active: ${describeSplit(m.split)} ${m.release ?? "-"}`);
    add("global");
    add(
        ...indent([
            "master-worker",
            // expose-fd lets a reloaded worker take over the listening sockets: no refused connections.
            `stats socket ${m.adminSocket} mode 600 level admin expose-fd listeners`,
            `pidfile ${m.pidFile}`,
            "hard-stop-after 30s",
            `server-state-file ${m.serverStateFile}`,
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
            // A reload must not undo runtime changes (a drain, a weight); the switch saves them first.
            "load-server-state-from-file global",
            ...m.extra.defaults,
        ]),
    );

    // Longest prefix first, so /api/v2 wins over /api whichever kind owns it; a host's own routes first (model/edge/routing.ts).
    // A TLS listener also routes a host by its SNI (model/edge/routing.ts).
    const sni = m.edge?.listen.some((l) => l.tls) ?? false;
    const routing = frontendRules(
        [
            ...m.backends.map((b) => ({ route: b.route, backend: haproxyBackendName(b.component), ...(b.hosts?.length ? { hosts: b.hosts } : {}) })),
            ...(m.services ?? []).map((s) => ({ route: s.route, backend: serviceBackendName(s.service) })),
        ],
        NOT_FOUND_BACKEND,
        routePrefix,
        undefined,
        sni,
    );
    const root = routing.fallback !== NOT_FOUND_BACKEND;
    // Preview requests first: every route of theirs, components' to the idle color's backends.
    const preview = m.preview
        ? [
              ...previewAcls(m.preview.match),
              ...frontendRules(
                  [
                      ...m.backends.map((b) => ({ route: b.route, backend: previewBackendName(b.component), ...(b.hosts?.length ? { hosts: b.hosts } : {}) })),
                      ...(m.services ?? []).map((s) => ({ route: s.route, backend: serviceBackendName(s.service) })),
                  ],
                  NOT_FOUND_BACKEND,
                  routePrefix,
                  PREVIEW_ACL,
                  sni,
              ).rules,
          ]
        : [];
    add("", "frontend fe_main");
    add(
        ...indent([
            `bind ${loopbackAddress(m.frontendPort)}`,
            ...edgeFrontendLines(m.edge),
            ...(m.preview?.match.port ? [`bind ${loopbackAddress(m.preview.match.port)}`] : []),
            ...(m.accessLogPort ? accessLogLines(m.accessLogPort) : []),
            // Maintenance answers before any routing, the preview's included.
            ...(m.maintenance ? maintenanceLines(m.maintenance) : []),
            ...preview,
            ...routing.rules,
            `default_backend ${routing.fallback}`,
            ...m.extra.frontend,
        ]),
    );
    add(...edgeRedirectSections(m.edge));
    add("", "frontend fe_metrics");
    add(
        ...indent([
            `bind ${loopbackAddress(m.exporterPort)}`,
            "http-request use-service prometheus-exporter if { path /metrics }",
            "http-request return status 404",
        ]),
    );

    const weights = new Map(desiredWeights(poolsOf(m), m.split).map((w) => [`${w.backend}/${w.server}`, w.weight]));
    for (const b of [...m.backends].sort((x, y) => x.component.localeCompare(y.component))) {
        const backend = haproxyBackendName(b.component);
        add("", `backend ${backend}`);
        add(
            ...indent([
                ...checkLines(b),
                ...balanceLines(b.balance),
                ...(m.sticky
                    ? stickyLines(
                          backend,
                          b.component,
                          b.servers.map((s) => serverName(s.color, s.node)),
                      )
                    : []),
                // Which color and release answered is HAProxy's to say, not the app's: set-header replaces what the app sent.
                ...b.servers.map((s) => `http-response set-header ${COLOR_HEADER} ${s.color} if { srv_name ${serverName(s.color, s.node)} }`),
                `http-response set-header ${RELEASE_HEADER} %[srv_name,map(${m.releasesMap},unknown)]`,
                ...(m.probeMap
                    ? [
                          serverHeaderLine(),
                          ...nodeRouteLines(
                              m.probeMap,
                              b.servers.map((s) => serverName(s.color, s.node)),
                          ),
                      ]
                    : []),
                ...(b.extra ?? []),
                ...b.servers.map((s) => {
                    const name = serverName(s.color, s.node);
                    const cookie = m.sticky ? ` cookie ${name}` : "";
                    return `server ${name} ${s.address ?? LOOPBACK}:${s.port}${cookie} check weight ${weights.get(`${backend}/${name}`) ?? 0}`;
                }),
            ]),
        );
    }
    for (const b of m.preview ? [...m.backends].sort((x, y) => x.component.localeCompare(y.component)) : []) {
        const color = m.preview!.color;
        const servers = b.servers.filter((s) => s.color === color).map((s) => ({ ...s, name: serverName(s.color, s.node) }));
        add("", `backend ${previewBackendName(b.component)}`);
        // The idle color's servers alone, unweighted: no switch moves them.
        add(
            ...indent([
                ...checkLines(b),
                ...balanceLines(b.balance),
                `http-response set-header ${COLOR_HEADER} ${color}`,
                ...servers.map(
                    (s) =>
                        `http-response set-header ${RELEASE_HEADER} %[str(${s.name}),map(${m.releasesMap},unknown)] if { srv_name ${previewServerName(s.name)} }`,
                ),
                ...(b.extra ?? []),
                ...servers.map((s) => `server ${previewServerName(s.name)} ${s.address ?? LOOPBACK}:${s.port} check`),
            ]),
        );
    }
    for (const svc of [...(m.services ?? [])].sort((x, y) => x.service.localeCompare(y.service))) {
        add("", `backend ${serviceBackendName(svc.service)}`);
        // No weight: a switch never moves it, so it stays out of the config's shape.
        add(
            ...indent([
                ...checkLines(svc),
                `http-response set-header ${SERVICE_HEADER} ${svc.service}`,
                `server ${svc.service} ${svc.address ?? LOOPBACK}:${svc.port} check`,
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

/** Pure: the model's backends as traffic pools. */
export function poolsOf(m: Pick<HaproxyModel, "backends">): Pool[] {
    return m.backends.map((b) => ({
        backend: haproxyBackendName(b.component),
        servers: b.servers.map((s) => ({ name: serverName(s.color, s.node), color: s.color })),
    }));
}

/** Pure: `backend/server` -> `address:port` for every server line of a rendered config. */
export function configServers(text: string): Map<string, string> {
    const out = new Map<string, string>();
    let backend = "";
    for (const line of text.split("\n")) {
        const section = /^backend (\S+)/.exec(line);
        if (section) backend = section[1];
        else if (/^\S/.test(line)) backend = "";
        const server = /^\s+server (\S+) (\S+):(\d+)(?:\s|$)/.exec(line);
        if (server && backend) out.set(`${backend}/${server[1]}`, `${server[2]}:${server[3]}`);
    }
    return out;
}

/**
 * Pure: the saved server state (`show servers state`, format 1) that `config` may load.
 * HAProxy applies a saved address and port over the config's, so a server the config
 * moved (or no longer has) is dropped: it starts from the config, with no saved admin
 * state or weight. The others keep theirs.
 */
export function serverStateFor(state: string, config: string): string {
    const servers = configServers(config);
    return state
        .split("\n")
        .filter((line) => {
            // be_id be_name srv_id srv_name srv_addr ... srv_port (field 18)
            const f = line.trim().split(/\s+/);
            if (line.startsWith("#") || f.length < 19 || !/^\d+$/.test(f[0])) return true;
            return servers.get(`${f[1]}/${f[3]}`) === `${f[4]}:${f[18]}`;
        })
        .join("\n");
}

/** Pure: the color a rendered config's header names ("none" when it names none). */
export function fileActive(text: string): string {
    return /^# active: (\S+)/m.exec(text)?.[1] ?? "none";
}

/**
 * Pure: each server's weight in a config's backends, as HAProxy loads it when it starts (no
 * `weight` is HAProxy's default, 1). What the cleanup guard reads while HAProxy is down.
 */
export function configWeights(text: string): { backend: string; server: string; weight: number }[] {
    const out: { backend: string; server: string; weight: number }[] = [];
    let backend: string | undefined;
    for (const raw of text.split("\n")) {
        const f = raw.replace(/#.*/, "").trim().split(/\s+/);
        if (f[0] === "backend" || f[0] === "listen") backend = f[1];
        else if (f[0] === "frontend" || f[0] === "defaults" || f[0] === "global") backend = undefined;
        else if (f[0] === "server" && backend && f[1]) {
            const w = f.indexOf("weight");
            out.push({ backend, server: f[1], weight: w > 0 && /^\d+$/.test(f[w + 1] ?? "") ? Number(f[w + 1]) : 1 });
        }
    }
    return out;
}
