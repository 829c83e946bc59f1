// Names and ports derived from config. Pure: the same config always gives the same names.

export const COLORS = ["blue", "green"] as const;
export type Color = (typeof COLORS)[number];

export function otherColor(color: Color): Color {
    return color === "blue" ? "green" : "blue";
}

/**
 * A node of a color's pool: 1..N when the pool has several, `undefined` for a pool of
 * one, which keeps the names it had before pools existed.
 */
export type Node = number | undefined;

/** Pure: the nodes of a pool of `count`. */
export function nodesOf(count: number): Node[] {
    return count <= 1 ? [undefined] : Array.from({ length: count }, (_, k) => k + 1);
}

/** `<prefix><component>-<color>`, the seeds' `veza-backend-blue`; `-<n>` for a node of a pool (`backend-api-2`). */
export function containerName(prefix: string, component: string, color: Color, node?: Node): string {
    return `${prefix}${component}-${color}${node === undefined ? "" : `-${node}`}`;
}

/** The staging/prod HAProxy instance, `<prefix>haproxy`. */
export function haproxyInstanceName(prefix: string): string {
    return `${prefix}haproxy`;
}

/** A stateful service's singleton container, `<prefix><service>` (seed 003: the keycloak app). */
export function statefulName(prefix: string, service: string): string {
    return `${prefix}${service}`;
}

/** Its Incus custom volume, `<prefix><service>-<volume>`: kept across releases, deleted only on request. */
export function statefulVolumeName(prefix: string, service: string, volume: string): string {
    return `${prefix}${service}-${volume}`;
}

/** A release is a git SHA, lowercase. */
export const RELEASE_SHA = /^[0-9a-f]{7,40}$/;

/** Incus's rule for instance names, within its 63 characters. */
export const INSTANCE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

const BACKEND_PREFIX = "be_";

export function haproxyBackendName(component: string): string {
    return `${BACKEND_PREFIX}${component}`;
}

/** Pure: a route without trailing slashes, as HAProxy matches it ("/" stays "/"). */
export function routePrefix(route: string): string {
    return route.length > 1 ? route.replace(/\/+$/, "") : "/";
}

/** A stateful service's backend: one server, outside every color's pool. */
export function serviceBackendName(service: string): string {
    return `${SERVICE_BACKEND_PREFIX}${service}`;
}

const SERVICE_BACKEND_PREFIX = "svc_";

export function isServiceBackend(name: string): boolean {
    return name.startsWith(SERVICE_BACKEND_PREFIX);
}

/** The backend that answers 404 when no component has the `/` route. */
export const NOT_FOUND_BACKEND = `${BACKEND_PREFIX}no_route`;

/** True for the backend of a component (not the 404 one, not a frontend). */
export function isComponentBackend(name: string): boolean {
    return name.startsWith(BACKEND_PREFIX) && name !== NOT_FOUND_BACKEND;
}

/** A color's server in every backend is named after the color, `<color>-<n>` for a node of a pool. */
export function serverName(color: Color, node?: Node): string {
    return node === undefined ? color : `${color}-${node}`;
}

/** Where HAProxy keeps its files on the host that runs it. */
export interface HaproxyLayout {
    readonly configPath: string;
    /** The sockets as HAProxy opens them (in the config and `-S`). */
    readonly adminSocket: string;
    readonly masterSocket: string;
    /**
     * The same sockets as this program reaches them, always on this host: for an
     * instance, Incus proxy devices forward them. One place per stack whatever the
     * placement: /var/lib/<app>/<stack>/{admin,master}.sock.
     */
    readonly hostAdminSocket: string;
    readonly hostMasterSocket: string;
    readonly pidFile: string;
    /** Where haproxy's own messages go (host placement; in an instance, the app log). */
    readonly logFile: string;
    /** Holds `active-color` and `history`, as the seeds' /var/lib/veza. */
    readonly stateDir: string;
}

export type Placement = "host" | "incus";

/**
 * Host placement shares one machine between stacks, so everything lives under a
 * per-stack directory. Inside the `<prefix>haproxy` instance the Debian paths are free.
 */
export function haproxyLayout(placement: Placement, app: string, stack: string, dir?: string): HaproxyLayout {
    if (placement === "host") {
        const base = dir ?? `/var/lib/${app}/${stack}`;
        return {
            configPath: `${base}/haproxy.cfg`,
            adminSocket: `${base}/admin.sock`,
            masterSocket: `${base}/master.sock`,
            hostAdminSocket: `${base}/admin.sock`,
            hostMasterSocket: `${base}/master.sock`,
            pidFile: `${base}/haproxy.pid`,
            logFile: `${base}/haproxy.log`,
            stateDir: base,
        };
    }
    // Not haproxy.cfg: the Debian package ships one, and bluegreen must not mistake it for its own.
    return {
        configPath: "/etc/haproxy/bluegreen.cfg",
        adminSocket: "/run/haproxy/admin.sock",
        masterSocket: "/run/haproxy/master.sock",
        hostAdminSocket: `/var/lib/${app}/${stack}/admin.sock`,
        hostMasterSocket: `/var/lib/${app}/${stack}/master.sock`,
        pidFile: "/run/haproxy/haproxy.pid",
        logFile: "/var/log/bluegreen-app.log",
        stateDir: dir ?? `/var/lib/${app}`,
    };
}

/** HAProxy's runtime server state, saved before every reload; beside the active-color file. */
export function serverStatePath(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/server-state`;
}

/** Which release each color's servers run, for the header HAProxy adds; beside the active-color file. */
export function releasesMapPath(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/releases.map`;
}
