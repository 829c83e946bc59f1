// Routed addresses (bluegreen:network mode routed): on a cluster, each app container, each
// stateful service and the HAProxy instance get a routed NIC with an address of the range,
// so HAProxy on one member reaches nodes on every member (NOTES.md: 0.8-1.15 ms a request,
// against 1.3-2.6 ms through proxy devices). Addresses are recorded on the instance
// (ADDRESS_KEY) and reused, so a node keeps its address across its replacements. Pure.

import { COLORS, Color, containerName, haproxyBackendName, haproxyInstanceName, nodesOf, serverName, statefulName } from "../naming";
import { configServers } from "../traffic/haproxyConfig";

/** Where an instance's address is recorded in its Incus config. */
export const ADDRESS_KEY = "user.bluegreen.address";

/** An inclusive range of IPv4 addresses, as unsigned 32-bit numbers. */
export interface AddressRange {
    readonly first: number;
    readonly last: number;
}

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** A dotted quad without leading zeros (which some parsers read as octal), or undefined. */
export function parseIPv4(text: string): number | undefined {
    if (!IPV4.test(text)) return undefined;
    return text.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

export function formatIPv4(n: number): string {
    return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

const EXPECTED = "expected an IPv4 range first-last (10.0.0.100-10.0.0.149) or a CIDR (10.0.1.0/24)";

/**
 * Pure: `first-last`, or a CIDR whose network and broadcast addresses are left out (all of a
 * /31 or /32 is usable). A message saying what was expected when the text is neither.
 */
export function parseAddressRange(text: string): AddressRange | string {
    const cidr = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
    if (cidr) {
        const base = parseIPv4(cidr[1]);
        const bits = Number(cidr[2]);
        if (base === undefined || bits > 32) return `${EXPECTED}; got ${JSON.stringify(text)}`;
        const size = 2 ** (32 - bits);
        const network = base - (base % size);
        if (network !== base) return `${EXPECTED}; ${text} has host bits set: write ${formatIPv4(network)}/${bits}, or a range first-last`;
        return size <= 2 ? { first: network, last: network + size - 1 } : { first: network + 1, last: network + size - 2 };
    }
    const parts = text.split("-");
    const [first, last] = parts.map(parseIPv4);
    if (parts.length !== 2 || first === undefined || last === undefined) return `${EXPECTED}; got ${JSON.stringify(text)}`;
    if (last < first) return `${EXPECTED}; ${text} ends before it starts`;
    return { first, last };
}

export function rangeSize(r: AddressRange): number {
    return r.last - r.first + 1;
}

export function formatRange(r: AddressRange): string {
    return `${formatIPv4(r.first)}-${formatIPv4(r.last)}`;
}

/** Pure: addresses a stack needs at most: every node of both colors, HAProxy, and each stateful service. */
export function addressesNeeded(components: readonly { readonly nodes: number }[], statefulServices: number): number {
    return 1 + components.reduce((n, c) => n + COLORS.length * nodesOf(c.nodes).length, 0) + statefulServices;
}

/** Pure: the instances that get an address, by name: HAProxy, each component's nodes (blue then green), the stateful services. */
export function addressKeys(prefix: string, components: readonly { readonly name: string; readonly nodes: number }[], services: readonly string[]): string[] {
    return [
        haproxyInstanceName(prefix),
        ...components.flatMap((c) => COLORS.flatMap((color) => nodesOf(c.nodes).map((node) => containerName(prefix, c.name, color, node)))),
        ...services.map((s) => statefulName(prefix, s)),
    ];
}

export interface Allocation {
    /** Instance name to address; a key missing only when the range ran out (see problems). */
    readonly addresses: Readonly<Record<string, string>>;
    /** Recorded addresses not kept, and why (each such instance is replaced with its new address). */
    readonly reassigned: readonly string[];
    readonly problems: readonly string[];
}

/**
 * Pure: an address for each key. A recorded address inside the range, not held by an earlier
 * key, is kept; the others get the lowest address of the range that no record holds (records
 * of instances on their way out included, so an address is never held twice) and that is not
 * reserved (members' own). With nothing recorded, the result depends only on the keys.
 */
export function allocateAddresses(
    range: AddressRange,
    keys: readonly string[],
    recorded: Readonly<Record<string, string>>,
    reserved: readonly string[],
): Allocation {
    const inRange = (a: number | undefined): a is number => a !== undefined && a >= range.first && a <= range.last;
    const holder = new Map<number, string>();
    const reassigned: string[] = [];
    const addresses: Record<string, string> = {};
    const wanted = new Set(keys);
    for (const k of keys) {
        const rec = recorded[k];
        if (rec === undefined) continue;
        const a = parseIPv4(rec);
        if (!inRange(a)) reassigned.push(`${k}: recorded ${rec} is outside bluegreen:network.addresses (${formatRange(range)})`);
        else if (holder.has(a)) reassigned.push(`${k}: recorded ${rec} is also ${holder.get(a)}'s`);
        else holder.set(a, k);
    }
    for (const [k, v] of Object.entries(recorded)) {
        const a = parseIPv4(v);
        if (!wanted.has(k) && inRange(a) && !holder.has(a)) holder.set(a, k);
    }
    for (const r of reserved) {
        const a = parseIPv4(r);
        if (a !== undefined && !holder.has(a)) holder.set(a, "");
    }
    for (const [a, k] of holder) if (wanted.has(k)) addresses[k] = formatIPv4(a);
    const problems: string[] = [];
    let next = range.first;
    for (const k of keys) {
        if (addresses[k] !== undefined) continue;
        while (next <= range.last && holder.has(next)) next++;
        if (next > range.last) {
            problems.push(
                `bluegreen:network.addresses: ${formatRange(range)} has ${rangeSize(range)} addresses, no free address for ${k}; ` +
                    `widen the range (instances being removed keep theirs until they are gone)`,
            );
            continue;
        }
        holder.set(next, k);
        addresses[k] = formatIPv4(next);
    }
    return { addresses: Object.fromEntries(keys.filter((k) => addresses[k] !== undefined).map((k) => [k, addresses[k]])), reassigned, problems };
}

/** Pure: a member's own address, the host of its URL as `incus cluster list` shows it. */
export function memberAddress(url: string): string | undefined {
    try {
        return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1") || undefined;
    } catch {
        return undefined;
    }
}

/** Pure: the problem of a range that holds a member's own address (routing it to a container would cut the member off). */
export function overlapProblems(range: AddressRange, members: readonly { readonly name: string; readonly address?: string }[]): string[] {
    const hit = members.filter((m) => {
        const a = m.address === undefined ? undefined : parseIPv4(m.address);
        return a !== undefined && a >= range.first && a <= range.last;
    });
    if (hit.length === 0) return [];
    return [
        `bluegreen:network.addresses: ${formatRange(range)} overlaps the address of member ${hit.map((m) => `${m.name} (${m.address})`).join(", ")}; ` +
            `choose a range of free addresses on the members' network`,
    ];
}

/** Pure: the addresses recorded on the stack's live instances (only valid ones). */
export function recordedAddresses(
    stack: string,
    instances: readonly { readonly name: string; readonly config: Readonly<Record<string, string>> }[],
): Record<string, string> {
    return Object.fromEntries(
        instances
            .filter((i) => i.config["user.bluegreen.managed"] === "true" && i.config["user.bluegreen.stack"] === stack)
            .filter((i) => parseIPv4(i.config[ADDRESS_KEY] ?? "") !== undefined)
            .map((i) => [i.name, i.config[ADDRESS_KEY]!]),
    );
}

/** Pure: HAProxy's servers of one component's color: each node's address at the app's port. */
export function backendServers(
    prefix: string,
    component: string,
    color: Color,
    nodes: number,
    port: number,
    addresses: Readonly<Record<string, string>>,
): { server: string; address: string }[] {
    return nodesOf(nodes).map((node) => {
        const name = containerName(prefix, component, color, node);
        const a = addresses[name];
        if (a === undefined) throw new Error(`no address for ${name}: allocate the stack's addresses first (model/cluster/network.ts allocateAddresses)`);
        return { server: serverName(color, node), address: `${a}:${port}` };
    });
}

/**
 * Pure: the nodes' addresses as HAProxy's config names them (it has a server for every node of
 * both colors), by container name: the record of a node whose own cannot be read, its member
 * unreachable. Only the stack's component backends, only valid addresses.
 */
export function haproxyConfigAddresses(prefix: string, components: readonly { readonly name: string }[], config: string): Record<string, string> {
    const out: Record<string, string> = {};
    const servers = configServers(config);
    for (const c of components) {
        for (const [key, hostPort] of servers) {
            const [backend, server] = key.split("/");
            const m = /^(blue|green)(?:-(\d+))?$/.exec(server ?? "");
            const address = hostPort.replace(/:\d+$/, "");
            if (backend !== haproxyBackendName(c.name) || !m || parseIPv4(address) === undefined) continue;
            out[containerName(prefix, c.name, m[1] as Color, m[2] === undefined ? undefined : Number(m[2]))] = address;
        }
    }
    return out;
}
