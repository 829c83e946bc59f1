// The one place that answers "which Incus target, and which address, reaches what".
// Today everything is on this host's loopback (containers have no NIC; Incus proxy
// devices forward ports), so multi-host support changes only this module. Pure.

import { Color, haproxyInstanceName } from "./naming";

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

export function haproxyHostOf(placement: "host" | "incus", prefix: string, remote?: string): HaproxyHost {
    return placement === "host" ? { placement: "host" } : { placement: "incus", instance: haproxyInstanceName(prefix), ...(remote ? { remote } : {}) };
}

/** Each component owns two consecutive loopback ports: blue on `hostPort`, green on `hostPort + 1`. */
export function colorHostPort(hostPort: number, color: Color): number {
    return color === "blue" ? hostPort : hostPort + 1;
}

/** `host:port` of a loopback listener. */
export function loopbackAddress(port: number): string {
    return `${LOOPBACK}:${port}`;
}

/** An HTTP URL on this host's loopback. */
export function loopbackUrl(port: number, path = "/"): string {
    return `http://${loopbackAddress(port)}${path}`;
}
