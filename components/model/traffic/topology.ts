// The one place that answers "which Incus target, and which address, reaches what".
// Today everything is on this host's loopback (containers have no NIC; Incus proxy
// devices forward ports), so multi-host support changes only this module. Pure.

import { Color, Node, haproxyInstanceName } from "../naming";

/** Every listener and every probe is on loopback. */
export const LOOPBACK = "127.0.0.1";

/** Where an instance lives: the local daemon, or an `incus remote`. */
export interface IncusTarget {
    readonly remote?: string;
}

/** The machine HAProxy runs on: this host (dev) or the `<prefix>haproxy` instance (staging/prod). */
export type HaproxyHost = { readonly placement: "host" } | { readonly placement: "incus"; readonly instance: string; readonly remote?: string };

export function incusTarget(remote?: string): IncusTarget {
    return remote ? { remote } : {};
}

/** The Incus target of the HAProxy instance; the local daemon for host placement. */
export function haproxyTarget(host: HaproxyHost): IncusTarget {
    return host.placement === "incus" ? incusTarget(host.remote) : {};
}

/** `remote:name`, or just `name` for the local daemon: how the incus CLI names an instance. */
export function instanceRef(target: IncusTarget, name: string): string {
    return target.remote ? `${target.remote}:${name}` : name;
}

/** The HAProxy instance as the incus CLI names it; undefined on this host. */
export function haproxyInstanceRef(host: HaproxyHost): string | undefined {
    return host.placement === "incus" ? instanceRef(host, host.instance) : undefined;
}

export function haproxyHostOf(placement: "host" | "incus", prefix: string, remote?: string): HaproxyHost {
    return placement === "host" ? { placement: "host" } : { placement: "incus", instance: haproxyInstanceName(prefix), ...(remote ? { remote } : {}) };
}

/**
 * Each container owns two consecutive loopback ports, blue then green. A pool of one has
 * `hostPort` and `hostPort + 1`, as before pools; node n of a pool has `hostPort + 2n` and
 * the next. Node 1 does not reuse the single container's ports, so a pool can grow from
 * one node, or shrink to one, creating the new containers before deleting the old.
 */
export function colorHostPort(hostPort: number, color: Color, node?: Node): number {
    return hostPort + (node === undefined ? 0 : 2 * node) + (color === "blue" ? 0 : 1);
}

/** The last loopback port a component of `nodes` nodes uses (a pool also keeps the first two for one node). */
export function lastHostPort(hostPort: number, nodes: number): number {
    return nodes <= 1 ? hostPort + 1 : hostPort + 2 * nodes + 1;
}

/** `host:port` of a loopback listener. */
export function loopbackAddress(port: number): string {
    return `${LOOPBACK}:${port}`;
}

/** An HTTP URL on this host's loopback. */
export function loopbackUrl(port: number, path = "/"): string {
    return `http://${loopbackAddress(port)}${path}`;
}

/** An app's URL from where probes run: its routed address at the app's port, else the loopback port (proxy mode). */
export function appUrl(port: number, path = "/", address?: string): string {
    return address ? `http://${address}:${port}${path}` : loopbackUrl(port, path);
}

/**
 * How this program reaches a socket of HAProxy: a unix socket on this host (HAProxy's own, or
 * an Incus proxy device into the instance), or, with a remote, `incus exec` of socat inside
 * the instance: nothing on a remote path is a socket or file of this host.
 */
export type AdminChannel =
    | { readonly via: "socket"; readonly socket: string }
    | { readonly via: "exec"; readonly target: IncusTarget; readonly instance: string; readonly socket: string };

/** The runtime API (`admin`) or the master CLI (`master`) of a stack's HAProxy. */
export function haproxyChannel(
    host: HaproxyHost,
    layout: { readonly adminSocket: string; readonly masterSocket: string; readonly hostAdminSocket: string; readonly hostMasterSocket: string },
    which: "admin" | "master",
): AdminChannel {
    if (host.placement === "incus" && host.remote) {
        return { via: "exec", target: incusTarget(host.remote), instance: host.instance, socket: which === "admin" ? layout.adminSocket : layout.masterSocket };
    }
    return { via: "socket", socket: which === "admin" ? layout.hostAdminSocket : layout.hostMasterSocket };
}

/** Where a probe of the Incus host's loopback runs: here, or inside the HAProxy instance of a remote. */
export type ProbeRoute = { readonly via: "local" } | { readonly via: "exec"; readonly target: IncusTarget; readonly instance: string };

export const LOCAL_PROBE: ProbeRoute = { via: "local" };

/** Probes go where the traffic comes from: with a remote, from inside the HAProxy instance. */
export function probeRoute(host: HaproxyHost): ProbeRoute {
    return host.placement === "incus" && host.remote ? { via: "exec", target: incusTarget(host.remote), instance: host.instance } : LOCAL_PROBE;
}

/** The route of a resource that carries `remote` and, with one, the HAProxy instance (`probeVia`). */
export function probeRouteOf(i: { readonly remote?: string; readonly probeVia?: string }): ProbeRoute {
    return i.remote && i.probeVia ? { via: "exec", target: incusTarget(i.remote), instance: i.probeVia } : LOCAL_PROBE;
}

/** The name of an AdminChannel or ProbeRoute, for messages. */
export function describeChannel(c: AdminChannel | ProbeRoute): string {
    if (c.via === "socket") return c.socket;
    if (c.via === "local") return "this host";
    return `${instanceRef(c.target, c.instance)}${"socket" in c ? `:${c.socket}` : ""} (incus exec)`;
}
