// Incus through its CLI. Builders return commands as values (argv arrays) so tests
// can assert them exactly; the few helpers below run them through the exec seam.

import { IncusTarget, instanceRef, loopbackAddress } from "../model/traffic/topology";
import { Member, memberState } from "../model/cluster/placement";
import { memberAddress } from "../model/cluster/network";
import { Cmd, CmdResult, cmdError, run } from "./exec";
import { progress } from "./progress";

export type { IncusTarget } from "../model/traffic/topology";

/** `remote:name`, or just `name` for the local daemon. */
export function ref(target: IncusTarget, name: string): string {
    return instanceRef(target, name);
}

/** A TCP proxy between loopback ports, or a host unix socket forwarding into the instance. */
export type ProxyDevice =
    | {
          readonly listenPort: number;
          readonly connectPort: number;
          /** Where the host side listens; the host's loopback when absent (a remote's frontend: its address). */
          readonly listenAddress?: string;
          /** `instance`: listen inside the instance and connect on the host. */
          readonly bind?: "host" | "instance";
          /** Send the client's address to the instance's listener in a PROXY protocol header (HAProxy's `accept-proxy`). */
          readonly proxyProtocol?: boolean;
      }
    | {
          /** The socket on the host; its directory must exist. */
          readonly listenSocket: string;
          /** The socket inside the instance. */
          readonly connectSocket: string;
      };

export interface InstanceSpec {
    readonly image: string;
    readonly profiles: readonly string[];
    /** Instance config keys: `environment.*`, `user.*`, limits. */
    readonly config: Readonly<Record<string, string>>;
    readonly proxies: Readonly<Record<string, ProxyDevice>>;
    /** Custom storage volumes to mount: device name to volume. */
    readonly disks?: Readonly<Record<string, DiskDevice>>;
    /** On a cluster: the member to create it on (`--target`); absent: Incus's scheduler. */
    readonly member?: string;
    /** Routed NICs (bluegreen:network mode routed): device name to NIC. */
    readonly nics?: Readonly<Record<string, RoutedNic>>;
}

/** A routed NIC: the address is routed to the instance on its member's `parent` interface. */
export interface RoutedNic {
    readonly parent: string;
    readonly address: string;
}

/**
 * The NIC as Incus stores it. The member needs `net.ipv4.conf.all.forwarding=1` and
 * `net.ipv4.neigh.<parent>.proxy_delay=0` (README "Cluster"), set by whoever runs the members.
 */
export function routedNicDevice(n: RoutedNic): Record<string, string> {
    return { type: "nic", nictype: "routed", parent: n.parent, "ipv4.address": n.address };
}

/** A custom storage volume mounted in the instance. */
export interface DiskDevice {
    readonly pool: string;
    readonly volume: string;
    readonly path: string;
}

export function diskDevice(d: DiskDevice): Record<string, string> {
    return { type: "disk", pool: d.pool, source: d.volume, path: d.path };
}

const TIMEOUT = { short: 30_000, long: 180_000 };

/** The device as Incus stores it, so a live one can be compared with the wanted one. */
export function proxyDevice(p: ProxyDevice): Record<string, string> {
    if ("listenSocket" in p) {
        // Root-only: these are HAProxy's admin-level sockets.
        return { type: "proxy", listen: `unix:${p.listenSocket}`, connect: `unix:${p.connectSocket}`, mode: "0600" };
    }
    return {
        type: "proxy",
        listen: `tcp:${p.listenAddress ? `${p.listenAddress}:${p.listenPort}` : loopbackAddress(p.listenPort)}`,
        connect: `tcp:${loopbackAddress(p.connectPort)}`,
        ...(p.bind === "instance" ? { bind: "instance" } : {}),
        ...(p.proxyProtocol ? { proxy_protocol: "true" } : {}),
    };
}

/**
 * `incus create` with config and devices as YAML on stdin (JSON is YAML), so an
 * instance never exists half-configured. Containers get no NIC: traffic uses proxies.
 */
export function createCmd(target: IncusTarget, name: string, spec: InstanceSpec): Cmd {
    const devices: Record<string, Record<string, string>> = {};
    for (const [dev, p] of Object.entries(spec.proxies)) devices[dev] = proxyDevice(p);
    for (const [dev, d] of Object.entries(spec.disks ?? {})) devices[dev] = diskDevice(d);
    for (const [dev, n] of Object.entries(spec.nics ?? {})) devices[dev] = routedNicDevice(n);
    return {
        argv: [
            "incus",
            "create",
            ref(target, spec.image),
            ref(target, name),
            "--quiet",
            ...spec.profiles.flatMap((p) => ["--profile", p]),
            ...(spec.member ? ["--target", spec.member] : []),
        ],
        input: JSON.stringify({ config: spec.config, devices }),
        timeoutMs: TIMEOUT.long,
    };
}

export function startCmd(target: IncusTarget, name: string): Cmd {
    return { argv: ["incus", "start", ref(target, name), "--quiet"], timeoutMs: TIMEOUT.long };
}

/** Restarts the instance; its init runs again (and unpacks a release pushed in place). */
export function restartCmd(target: IncusTarget, name: string): Cmd {
    return { argv: ["incus", "restart", "--force", ref(target, name), "--quiet"], timeoutMs: TIMEOUT.long };
}

/** Sets instance config keys (labels, environment), applied at the next start. */
export function configSetCmd(target: IncusTarget, name: string, config: Readonly<Record<string, string>>): Cmd {
    return { argv: ["incus", "config", "set", ref(target, name), ...Object.entries(config).map(([k, v]) => `${k}=${v}`)], timeoutMs: TIMEOUT.short };
}

/** A clean stop within `timeoutS`, then a forced one: a database gets to flush before it is killed. */
export function stopCmd(target: IncusTarget, name: string, timeoutS = 30): Cmd {
    return { argv: ["incus", "stop", ref(target, name), "--timeout", String(timeoutS), "--force", "--quiet"], timeoutMs: (timeoutS + 30) * 1000 };
}

// ---- Custom storage volumes and their snapshots ----

/** On a cluster, `member` is the one whose pool holds it (its stateful service is pinned there). */
export function volumeCreateCmd(target: IncusTarget, pool: string, volume: string, member?: string): Cmd {
    return {
        argv: ["incus", "storage", "volume", "create", ref(target, pool), volume, "--quiet", ...(member ? ["--target", member] : [])],
        timeoutMs: TIMEOUT.long,
    };
}

export function volumeDeleteCmd(target: IncusTarget, pool: string, volume: string): Cmd {
    return { argv: ["incus", "storage", "volume", "delete", ref(target, pool), volume, "--quiet"], timeoutMs: TIMEOUT.long };
}

/** A volume snapshot; the description carries its metadata, so Incus itself says what it holds. */
export function snapshotCreateCmd(target: IncusTarget, pool: string, volume: string, snapshot: string, description: string): Cmd {
    return {
        argv: ["incus", "storage", "volume", "snapshot", "create", ref(target, pool), volume, snapshot, "--no-expiry", "--description", description, "--quiet"],
        timeoutMs: TIMEOUT.long,
    };
}

export function snapshotRestoreCmd(target: IncusTarget, pool: string, volume: string, snapshot: string): Cmd {
    return { argv: ["incus", "storage", "volume", "snapshot", "restore", ref(target, pool), volume, snapshot, "--quiet"], timeoutMs: TIMEOUT.long };
}

export function snapshotDeleteCmd(target: IncusTarget, pool: string, volume: string, snapshot: string): Cmd {
    return { argv: ["incus", "storage", "volume", "snapshot", "delete", ref(target, pool), volume, snapshot, "--quiet"], timeoutMs: TIMEOUT.long };
}

/** `GET` of a custom volume (`/snapshots` appended: its snapshot URLs). */
export function volumePath(pool: string, volume: string, snapshots = false): string {
    return `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom/${encodeURIComponent(volume)}${snapshots ? "/snapshots" : ""}`;
}

/** Snapshot names from `incus query <volume>/snapshots`: a list of URLs ending in the name. */
export function parseSnapshotNames(json: string): string[] {
    const v = JSON.parse(json) as unknown;
    if (!Array.isArray(v)) throw new Error(`expected a list of snapshot URLs, got ${json.slice(0, 80)}`);
    return v.map((u) => decodeURIComponent(String(u).split("/").pop() ?? "")).filter((n) => n !== "");
}

export function deleteCmd(target: IncusTarget, name: string): Cmd {
    return { argv: ["incus", "delete", "--force", ref(target, name)], timeoutMs: TIMEOUT.long };
}

export function filePushCmd(target: IncusTarget, name: string, localPath: string, remotePath: string, mode?: string): Cmd {
    return {
        argv: ["incus", "file", "push", "--create-dirs", "--quiet", ...(mode ? ["--mode", mode] : []), localPath, `${ref(target, name)}${remotePath}`],
        timeoutMs: TIMEOUT.long,
    };
}

/** Prints a file of the instance on stdout. A plain HTTP GET: unlike `incus exec`, its output is never lost. */
export function filePullCmd(target: IncusTarget, name: string, remotePath: string): Cmd {
    return { argv: ["incus", "file", "pull", `${ref(target, name)}${remotePath}`, "-"], timeoutMs: TIMEOUT.short };
}

/**
 * Runs argv inside the instance. No shell is involved on either side.
 * Incus 6.0 can drop the output of a short command when several execs run at once
 * (measured: about 3% with 8 in parallel); the exit code is reliable. So use exec for
 * its exit code, and read files with filePullCmd.
 */
export function execCmd(target: IncusTarget, name: string, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Cmd {
    return {
        argv: ["incus", "exec", ref(target, name), "--", ...argv],
        input: opts.input,
        timeoutMs: opts.timeoutMs ?? TIMEOUT.short,
    };
}

/**
 * An operator's one-off command (`app exec`): the user's argv as given, never through a shell.
 * `interactive` gives it a terminal; otherwise none, whatever this process's stdio is.
 */
export function operatorExecCmd(target: IncusTarget, name: string, argv: readonly string[], opts: { interactive: boolean; timeoutMs: number }): Cmd {
    return {
        argv: ["incus", "exec", ref(target, name), "--mode", opts.interactive ? "interactive" : "non-interactive", "--", ...argv],
        timeoutMs: opts.timeoutMs,
    };
}

export function queryCmd(target: IncusTarget, path: string): Cmd {
    return { argv: ["incus", "query", target.remote ? `${target.remote}:${path}` : path], timeoutMs: TIMEOUT.short };
}

export function addProxyCmd(target: IncusTarget, name: string, device: string, p: ProxyDevice): Cmd {
    const kv = Object.entries(proxyDevice(p))
        .filter(([k]) => k !== "type")
        .map(([k, v]) => `${k}=${v}`);
    return { argv: ["incus", "config", "device", "add", ref(target, name), device, "proxy", ...kv], timeoutMs: TIMEOUT.short };
}

/** Adds a device given as Incus stores it (`type` and its keys). */
export function addDeviceCmd(target: IncusTarget, name: string, device: string, d: Readonly<Record<string, string>>): Cmd {
    const { type, ...rest } = d;
    const kv = Object.entries(rest).map(([k, v]) => `${k}=${v}`);
    return { argv: ["incus", "config", "device", "add", ref(target, name), device, type, ...kv], timeoutMs: TIMEOUT.short };
}

export function removeDeviceCmd(target: IncusTarget, name: string, device: string): Cmd {
    return { argv: ["incus", "config", "device", "remove", ref(target, name), device], timeoutMs: TIMEOUT.short };
}

/**
 * Pure: the address of an Incus server as it knows itself, from `incus query <remote>:/1.0`:
 * the first non-loopback IPv4 of environment.addresses, else config core.https_address;
 * without the port. Undefined when it names none (listening on all addresses, unnamed).
 */
export function parseServerAddress(json: string): string | undefined {
    const o = JSON.parse(json) as { environment?: { addresses?: unknown }; config?: Record<string, unknown> };
    const hosts = [...(Array.isArray(o.environment?.addresses) ? o.environment.addresses : []), o.config?.["core.https_address"]]
        .filter((a): a is string => typeof a === "string" && a !== "")
        .map((a) => (/^\[/.test(a) ? a.replace(/^\[([^\]]+)\].*$/, "$1") : a.replace(/:\d+$/, "")));
    return hosts.find((h) => /^\d+\.\d+\.\d+\.\d+$/.test(h) && !h.startsWith("127.") && h !== "0.0.0.0");
}

/** The remote's own address (parseServerAddress); throws when it cannot be read or names none. */
export async function serverAddress(target: IncusTarget): Promise<string> {
    const cmd = queryCmd(target, "/1.0");
    const r = await runIdempotent(cmd);
    if (r.code !== 0) throw cmdError(cmd, r, `cannot read the address of ${target.remote ?? "the local Incus"}`);
    const a = parseServerAddress(r.stdout);
    if (!a)
        throw new Error(
            `${target.remote ?? "the local Incus"} names no IPv4 address of its own (environment.addresses, core.https_address); set core.https_address to its address`,
        );
    return a;
}

/** Pure: copies an image of this machine's Incus (setup-host.sh builds it) to the remote, under the same alias. */
export function imageCopyCmd(target: IncusTarget & { remote: string }, alias: string): Cmd {
    return { argv: ["incus", "image", "copy", `local:${alias}`, `${target.remote}:`, "--alias", alias, "--quiet"], timeoutMs: TIMEOUT.long };
}

/** Pure: imports an image from its files (metadata.tar, rootfs.tar) into the remote under `alias`. */
export function imageImportCmd(target: IncusTarget & { remote: string }, files: readonly string[], alias: string): Cmd {
    return { argv: ["incus", "image", "import", ...files, `${target.remote}:`, "--alias", alias, "--quiet"], timeoutMs: TIMEOUT.long };
}

/**
 * Brings the base image to a remote that lacks it, bounded by the commands' deadlines; a no-op
 * for the local daemon. `files`: the image's files from setup-host.sh's cache (io/baseImage.ts),
 * when this machine has them; else it is copied from this machine's Incus.
 */
export async function ensureImage(target: IncusTarget, alias: string, files?: () => Promise<readonly string[] | undefined>): Promise<void> {
    if (!target.remote) return;
    const q = queryCmd(target, `/1.0/images/aliases/${encodeURIComponent(alias)}`);
    const r = await runIdempotent(q);
    if (r.code === 0) return;
    if (!isNotFound(r.stderr)) throw cmdError(q, r, `cannot tell whether ${target.remote} has the image ${alias}`);
    const local = await files?.();
    progress(
        `incus: ${target.remote} has no image ${alias}; ` +
            (local ? `importing it from ${local.join(" and ")}` : "copying it from this machine's Incus (scripts/setup-host.sh builds it)"),
    );
    const cmd = local ? imageImportCmd({ remote: target.remote }, local, alias) : imageCopyCmd({ remote: target.remote }, alias);
    const c = await run(cmd);
    if (c.code !== 0) {
        throw cmdError(
            cmd,
            c,
            `cannot bring the image ${alias} to ${target.remote}; run scripts/setup-host.sh here, or import ${alias} on the remote yourself`,
        );
    }
    progress(`incus: image ${alias} is on ${target.remote}`);
}

/** The parts of `GET /1.0/instances/<name>` that bluegreen reads. */
export interface InstanceInfo {
    readonly name: string;
    /** Incus's status word: Running, Stopped, Frozen, Error... */
    readonly status: string;
    readonly config: Readonly<Record<string, string>>;
    readonly devices: Readonly<Record<string, Readonly<Record<string, string>>>>;
    /** On a cluster: its member. */
    readonly location?: string;
}

/** Parses `incus query /1.0/instances/<name>` output. */
export function parseInstance(json: string): InstanceInfo {
    const o = JSON.parse(json) as Partial<InstanceInfo>;
    const location = o.location && o.location !== "none" ? { location: o.location } : {};
    return { name: String(o.name ?? ""), status: String(o.status ?? "Unknown"), config: o.config ?? {}, devices: o.devices ?? {}, ...location };
}

function isNotFound(stderr: string): boolean {
    return /not found/i.test(stderr);
}

/** Incus's client lost its connection to the daemon mid-request: safe to repeat a request that only reads or overwrites. */
export function isDroppedConnection(r: CmdResult): boolean {
    return (
        r.code !== 0 &&
        !r.timedOut &&
        /\b(unexpected )?EOF\b|connection reset by peer|broken pipe|use of closed network connection|server unexpectedly closed/i.test(r.stderr)
    );
}

const IDEMPOTENT_TRIES = 3;

/** Runs an idempotent command (a query, a file pull or push), again after a dropped connection (isDroppedConnection). */
export async function runIdempotent(cmd: Cmd): Promise<CmdResult> {
    let r = await run(cmd);
    for (let i = 1; i < IDEMPOTENT_TRIES && isDroppedConnection(r); i++) {
        await new Promise((resolve) => setTimeout(resolve, 200 * i));
        r = await run(cmd);
    }
    return r;
}

/** runIdempotent, throwing as runOrThrow does. */
export async function runIdempotentOrThrow(cmd: Cmd, context?: string): Promise<CmdResult> {
    const r = await runIdempotent(cmd);
    if (r.code !== 0) throw cmdError(cmd, r, context);
    return r;
}

/** The instance, or undefined when it does not exist. */
export async function getInstance(target: IncusTarget, name: string): Promise<InstanceInfo | undefined> {
    const cmd = queryCmd(target, `/1.0/instances/${name}`);
    const r = await runIdempotent(cmd);
    if (r.code === 0) return parseInstance(r.stdout);
    if (isNotFound(r.stderr)) return undefined;
    throw cmdError(cmd, r, `cannot read instance ${ref(target, name)} (is incusd running? run scripts/setup-host.sh)`);
}

/** Every instance with its config (`incus query /1.0/instances?recursion=1`). */
export async function listInstances(target: IncusTarget): Promise<InstanceInfo[]> {
    const cmd = queryCmd(target, "/1.0/instances?recursion=1");
    const r = await runIdempotent(cmd);
    if (r.code !== 0)
        throw cmdError(cmd, r, `cannot list the instances of ${target.remote ?? "the local Incus"} (is incusd running? run scripts/setup-host.sh)`);
    return parseInstances(r.stdout);
}

/** Parses `incus query /1.0/instances?recursion=1` output. */
export function parseInstances(json: string): InstanceInfo[] {
    const v = JSON.parse(json) as unknown;
    if (!Array.isArray(v)) throw new Error(`expected a list of instances, got ${json.slice(0, 80)}`);
    return v.map((o) => parseInstance(JSON.stringify(o)));
}

/** A file of the instance, or undefined when it does not exist. */
export async function readInstanceFile(target: IncusTarget, name: string, file: string): Promise<string | undefined> {
    const cmd = filePullCmd(target, name, file);
    const r = await runIdempotent(cmd);
    if (r.code === 0) return r.stdout;
    if (/file does not exist/i.test(r.stderr)) return undefined;
    throw cmdError(cmd, r, `cannot read ${file} in ${ref(target, name)}`);
}

/** Deletes the instance; an absent instance is a no-op. Returns whether one was deleted. */
export async function deleteInstance(target: IncusTarget, name: string): Promise<boolean> {
    const cmd = deleteCmd(target, name);
    const r = await run(cmd);
    if (r.code === 0) return true;
    if (isNotFound(r.stderr)) return false;
    throw cmdError(cmd, r, `cannot delete ${ref(target, name)}`);
}

/** Whether the custom volume exists. */
export async function volumeExists(target: IncusTarget, pool: string, volume: string): Promise<boolean> {
    const cmd = queryCmd(target, volumePath(pool, volume));
    const r = await runIdempotent(cmd);
    if (r.code === 0) return true;
    if (isNotFound(r.stderr)) return false;
    throw cmdError(cmd, r, `cannot read volume ${volume} of pool ${pool}`);
}

/** The volume's snapshot names; none when the volume does not exist. */
export async function volumeSnapshots(target: IncusTarget, pool: string, volume: string): Promise<string[]> {
    const cmd = queryCmd(target, volumePath(pool, volume, true));
    const r = await runIdempotent(cmd);
    if (r.code === 0) return parseSnapshotNames(r.stdout);
    if (isNotFound(r.stderr)) return [];
    throw cmdError(cmd, r, `cannot list snapshots of volume ${volume} of pool ${pool}`);
}

// ---- Cluster members ----

/** Every member with its status (Online, Offline, Evacuated, Blocked). */
export function clusterListCmd(target: IncusTarget): Cmd {
    return { argv: ["incus", "cluster", "list", ...(target.remote ? [`${target.remote}:`] : []), "--format", "json"], timeoutMs: TIMEOUT.short };
}

/** One member, evacuation state included. */
export function clusterMemberCmd(target: IncusTarget, member: string): Cmd {
    return queryCmd(target, `/1.0/cluster/members/${encodeURIComponent(member)}`);
}

/** Parses one member of `GET /1.0/cluster/members/<name>` (or of the list). */
export function parseClusterMember(json: string): Member {
    const o = JSON.parse(json) as { server_name?: unknown; status?: unknown; url?: unknown };
    const address = memberAddress(String(o.url ?? ""));
    return { name: String(o.server_name ?? ""), state: memberState(String(o.status ?? "")), ...(address ? { address } : {}) };
}

/** Parses `incus cluster list --format json`, by name. */
export function parseClusterMembers(json: string): Member[] {
    const v = JSON.parse(json) as unknown;
    if (!Array.isArray(v)) throw new Error(`expected a list of cluster members, got ${json.slice(0, 80)}`);
    return v.map((o) => parseClusterMember(JSON.stringify(o))).sort((a, b) => a.name.localeCompare(b.name));
}

/** The members, none when the target is not a cluster; fails closed when they cannot be read. */
export async function readClusterMembers(target: IncusTarget): Promise<Member[]> {
    const cmd = clusterListCmd(target);
    const r = await runIdempotent(cmd);
    if (r.code === 0) return parseClusterMembers(r.stdout);
    if (/isn't part of a cluster/i.test(r.stderr)) return [];
    throw cmdError(
        cmd,
        r,
        `cannot read the members of ${target.remote ?? "the local Incus"}, so nothing was placed; check the remote (incus cluster list ${target.remote ?? ""}:)`,
    );
}
