// HAProxy in front of the colors (seed: roles/haproxy). Provisions it once and keeps
// it running: a master-worker process on this host (dev), or haproxy inside the
// `<prefix>haproxy` Incus instance (staging/prod), supervised by the image's init.
// The config it serves belongs to the switch; this only lays down a first one.

import * as fs from "fs";
import * as path from "path";
import { cmdError, run, runOrThrow, startDetached } from "../../io/exec";
import { HaproxyHost, describeHost, onHost, readHostFile, writeHostFile } from "../../io/haproxyHost";
import {
    addProxyCmd,
    createCmd,
    deleteInstance,
    ensureImage,
    filePushCmd,
    getInstance,
    proxyDevice,
    ProxyDevice,
    removeDeviceCmd,
    RoutedNic,
    runIdempotentOrThrow,
    serverAddress,
    startCmd,
} from "../../io/incus";
import { baseImageFiles } from "../../io/baseImage";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";
import { showProc } from "../../io/runtimeApi";
import { withTempDir } from "../../io/tmp";
import { refused } from "../../model/errors";
import { renderConfig } from "../../model/traffic/haproxyConfig";
import { HaproxyLayout, releasesMapPath, serverStatePath } from "../../model/naming";
import { PROMETHEUS_DEVICE } from "../../model/rollout/prometheusConfig";
import { ADDRESS_KEY } from "../../model/cluster/network";
import { IncusTarget, haproxyChannel, haproxyTarget, loopbackAddress } from "../../model/traffic/topology";
import { activeColorPath, readActiveColor } from "../safety/history";
import { readMember } from "../cluster/placement";
import type { Listener } from "../../model/edge/listen";
import { listenerProxies } from "../edge/listen";
import type { AccessLogModel } from "../../model/edge/accessLog";
import { INSTANCE_RECEIVER, ensureReceiverInInstance, ensureReceiverOnHost, stopReceiverInInstance, stopReceiverOnHost } from "../edge/accessLog";

export interface HaproxyInputs {
    readonly stack: string;
    readonly host: HaproxyHost;
    readonly layout: HaproxyLayout;
    readonly frontendPort: number;
    readonly exporterPort: number;
    /** Incus placement: host loopback ports of app containers the instance must reach. */
    readonly backendPorts: readonly number[];
    readonly image: string;
    readonly profiles: readonly string[];
    /** On a cluster, its member (bluegreen:haproxy.member); absent: Incus's scheduler, or not a cluster. */
    readonly member?: string;
    /** bluegreen:network mode routed: its address on a routed NIC off `parent` (`address` is the frontend's, an output). */
    readonly routedAddress?: string;
    readonly parent?: string;
    /** bluegreen:haproxy.listen on incus placement: one proxy device each; absent when unset. */
    readonly listen?: readonly Listener[];
    /** bluegreen:accessLog: the receiver HAProxy logs to; absent when the key is unset. */
    readonly accessLog?: AccessLogModel;
}

export interface HaproxyOutputs extends HaproxyInputs {
    readonly running: boolean;
    readonly masterPid: number;
    /** With an Incus remote: the remote's address, where the frontend and the exporter listen. */
    readonly address?: string;
}

/** Inside the instance, the image's init runs and restarts this. Constant: nothing from input. */
export const INSTANCE_START_SCRIPT =
    "#!/bin/sh\n# Started and restarted by the bluegreen image's init.\nmkdir -p /run/haproxy\n" +
    `[ -f ${INSTANCE_RECEIVER.supervisor} ] && sh ${INSTANCE_RECEIVER.supervisor}\n` +
    "exec haproxy -W -f /etc/haproxy/bluegreen.cfg -S /run/haproxy/master.sock,mode,600\n";

/** The instance's proxy to an app container's port: `be-<port>`. */
const BACKEND_DEVICE = "be-";

/** Pure: the argv that starts haproxy as a master-worker with its master CLI (owner-only, whatever the umask). */
export function haproxyArgv(layout: HaproxyLayout): string[] {
    return ["haproxy", "-W", "-f", layout.configPath, "-S", `${layout.masterSocket},mode,600`];
}

/**
 * Pure: the proxy devices the instance needs (name -> device). With a remote (`address`: the
 * remote's own), the frontend and exporter listen on that address, and there is no unix-socket
 * device: a socket on the remote host is nothing this program can reach (the runtime API goes
 * over `incus exec socat` then).
 */
export function instanceProxies(
    i: Pick<HaproxyInputs, "frontendPort" | "exporterPort" | "backendPorts" | "layout" | "listen">,
    address?: string,
): Record<string, ProxyDevice> {
    const at = address ? { listenAddress: address } : {};
    const proxies: Record<string, ProxyDevice> = {
        frontend: { listenPort: i.frontendPort, connectPort: i.frontendPort, ...at },
        metrics: { listenPort: i.exporterPort, connectPort: i.exporterPort, ...at },
        // The runtime API over sockets on this host, not `incus exec socat`, whose output Incus may drop.
        ...(address
            ? {}
            : {
                  "admin-sock": { listenSocket: i.layout.hostAdminSocket, connectSocket: i.layout.adminSocket },
                  "master-sock": { listenSocket: i.layout.hostMasterSocket, connectSocket: i.layout.masterSocket },
              }),
    };
    // Inside the instance, 127.0.0.1:<port> leads to the app container's proxy on the host.
    for (const p of i.backendPorts) proxies[`${BACKEND_DEVICE}${p}`] = { listenPort: p, connectPort: p, bind: "instance" };
    return { ...proxies, ...listenerProxies(i.listen) };
}

/**
 * Pure: how the instance's proxy devices come in line with `wanted`: add what is missing
 * or differs, remove other proxies. Never a backend's (`be-*`): HAProxy may still route to
 * it (a node leaving a pool is drained first), so the switch removes it once dropped.
 */
export function devicePlan(
    have: Readonly<Record<string, Readonly<Record<string, string>>>>,
    wanted: Readonly<Record<string, ProxyDevice>>,
): { add: string[]; remove: string[] } {
    const add = Object.entries(wanted)
        .filter(([dev, p]) => !have[dev] || !Object.entries(proxyDevice(p)).every(([k, v]) => have[dev][k] === v))
        .map(([dev]) => dev);
    const remove = Object.entries(have)
        // Nor Prometheus's, which its own resource keeps (prometheus.placement: incus).
        .filter(([dev, d]) => d.type === "proxy" && !(dev in wanted) && !dev.startsWith(BACKEND_DEVICE) && dev !== PROMETHEUS_DEVICE)
        .map(([dev]) => dev);
    return { add, remove };
}

/** Pure: the backend proxies (`be-<port>`) to ports not in `ports`. */
export function staleBackendDevices(have: Readonly<Record<string, Readonly<Record<string, string>>>>, ports: readonly number[]): string[] {
    return Object.entries(have)
        .filter(([dev, d]) => d.type === "proxy" && dev.startsWith(BACKEND_DEVICE) && !ports.includes(Number(dev.slice(BACKEND_DEVICE.length))))
        .map(([dev]) => dev);
}

/** A first config: serves 404 until the switch writes the real one. */
export function bootstrapConfig(i: HaproxyInputs): string {
    return renderConfig({
        stack: i.stack,
        frontendPort: i.frontendPort,
        exporterPort: i.exporterPort,
        adminSocket: i.layout.adminSocket,
        pidFile: i.layout.pidFile,
        serverStateFile: serverStatePath(i.layout),
        releasesMap: releasesMapPath(i.layout),
        split: {},
        backends: [],
        extra: { global: [], defaults: [], frontend: [] },
    });
}

async function waitForMaster(i: HaproxyInputs, timeoutMs = 15_000): Promise<number> {
    const pid = await poll(
        async () => {
            const p = await showProc(haproxyChannel(i.host, i.layout, "master"));
            return p && p.workers.length > 0 ? p.masterPid : undefined;
        },
        { intervalMs: 100, timeoutMs },
    );
    if (pid !== undefined) return pid;
    const log = await readHostFile(i.host, i.layout.logFile).catch(() => undefined);
    throw new Error(
        `haproxy on ${describeHost(i.host)} did not start within ${timeoutMs} ms` + (log ? `; last log lines:\n${log.split("\n").slice(-15).join("\n")}` : ""),
    );
}

async function ensureConfig(i: HaproxyInputs): Promise<void> {
    if ((await readHostFile(i.host, i.layout.configPath)) !== undefined) return;
    progress(`haproxy: writing a first config to ${i.layout.configPath}`);
    await writeHostFile(i.host, i.layout.configPath, bootstrapConfig(i));
}

/**
 * Pure: HAProxy's own files for this stack, beside the history: what a destroy removes and
 * what a first `up` does not trust. The history, audit log, alerts, stateful records, lock
 * and logs stay: they are the record of what happened, and stateful volumes outlive a destroy.
 */
export function haproxyFiles(layout: HaproxyLayout): string[] {
    const c = layout.configPath;
    return [c, `${c}.bak`, `${c}.new`, serverStatePath(layout), releasesMapPath(layout)];
}

async function ensureOnHost(i: HaproxyInputs, fresh: boolean): Promise<number> {
    fs.mkdirSync(i.layout.stateDir, { recursive: true });
    fs.mkdirSync(path.dirname(i.layout.masterSocket), { recursive: true });
    const running = await showProc(haproxyChannel(i.host, i.layout, "master"));
    if (fresh && !(running && running.workers.length > 0)) {
        // A first up with HAProxy down: files left by an earlier life of the stack (another
        // version's destroy, a hand) would start it at old ports, and their saved server state
        // would carry those over the new config. The switch writes the real config.
        const stale = haproxyFiles(i.layout).filter((f) => fs.existsSync(f));
        if (stale.length > 0) progress(`haproxy: ignoring what an earlier life of the stack left (${stale.join(", ")})`);
        for (const f of stale) fs.rmSync(f, { force: true });
    }
    await ensureConfig(i);
    // Before HAProxy: its first requests are logged too.
    if (i.accessLog) await ensureReceiverOnHost(i.accessLog, i.layout.logFile);
    if (running && running.workers.length > 0) return running.masterPid;
    await runOrThrow(onHost(i.host, ["haproxy", "-c", "-f", i.layout.configPath]), "HAProxy rejects its current config");
    progress(`haproxy: starting master-worker on ${loopbackAddress(i.frontendPort)} (log: ${i.layout.logFile})`);
    startDetached(haproxyArgv(i.layout), i.layout.logFile);
    return waitForMaster(i);
}

async function ensureInInstance(i: HaproxyInputs, address: string | undefined): Promise<number> {
    if (i.host.placement !== "incus") throw new Error("not an instance placement");
    const target = haproxyTarget(i.host);
    const name = i.host.instance;
    const wanted = instanceProxies(i, address);
    // Incus creates the sockets, not their directory.
    if (!address) for (const sock of [i.layout.hostAdminSocket, i.layout.hostMasterSocket]) fs.mkdirSync(path.dirname(sock), { recursive: true });
    let inst = await getInstance(target, name);
    if (!inst) {
        progress(`haproxy: creating instance ${name}`);
        await runOrThrow(
            createCmd(target, name, {
                image: i.image,
                profiles: i.profiles,
                config: {
                    "user.bluegreen.managed": "true",
                    "user.bluegreen.stack": i.stack,
                    "user.bluegreen.role": "haproxy",
                    ...routedConfig({ address: i.routedAddress }),
                },
                proxies: wanted,
                ...(i.member ? { member: i.member } : {}),
                ...routedNics({ address: i.routedAddress, parent: i.parent }),
            }),
            `cannot create ${name}`,
        );
        inst = await getInstance(target, name);
    } else {
        // Keep the proxy devices in line with the backends: add new ports now; stale backends go after the switch.
        const plan = devicePlan(inst.devices, wanted);
        for (const dev of plan.add) {
            if (inst.devices[dev]) await runOrThrow(removeDeviceCmd(target, name, dev));
            await runOrThrow(addProxyCmd(target, name, dev, wanted[dev]), `cannot add proxy ${dev} to ${name}`);
        }
        for (const dev of plan.remove) await runOrThrow(removeDeviceCmd(target, name, dev));
    }
    if (inst?.status !== "Running") await runOrThrow(startCmd(target, name), `cannot start ${name}`);
    // The config goes first: the init starts haproxy as soon as the start script appears.
    await ensureConfig(i);
    if (i.accessLog) await ensureReceiverInInstance(target, name, i.accessLog);
    await withTempDir(async (dir) => {
        const start = path.join(dir, "start");
        fs.writeFileSync(start, INSTANCE_START_SCRIPT, { mode: 0o755 });
        await runIdempotentOrThrow(filePushCmd(target, name, start, "/opt/bluegreen/app/start", "0755"), `cannot install the haproxy start script in ${name}`);
    });
    return waitForMaster(i);
}

/** Pure: the record of an instance's routed address, which the next allocation reuses; nothing in proxy mode. */
export function routedConfig(i: { readonly address?: string }): Record<string, string> {
    return i.address ? { [ADDRESS_KEY]: i.address } : {};
}

/** Pure: an instance's routed NIC (`eth0`), with its address, off the members' `parent`; nothing in proxy mode. */
export function routedNics(i: { readonly address?: string; readonly parent?: string }): { nics?: Record<string, RoutedNic> } {
    return i.address && i.parent ? { nics: { eth0: { parent: i.parent, address: i.address } } } : {};
}

/** Provisions HAProxy and makes sure it runs; idempotent. `fresh`: the resource is being created; `olds`: it is being updated. */
export async function ensureHaproxy(i: HaproxyInputs, fresh = false, olds?: HaproxyOutputs): Promise<HaproxyOutputs> {
    if (olds?.accessLog && !i.accessLog) await stopAccessLog(olds);
    const address = i.host.placement === "incus" && i.host.remote ? await frontendAddress(haproxyTarget(i.host), i.member) : undefined;
    if (address) await ensureImage(haproxyTarget(i.host), i.image, () => baseImageFiles(i.image));
    const masterPid = i.host.placement === "host" ? await ensureOnHost(i, fresh) : await ensureInInstance(i, address);
    return { ...i, running: true, masterPid, ...(address ? { address } : {}) };
}

/** bluegreen:accessLog was unset: its receiver goes (HAProxy no longer logs to it). */
async function stopAccessLog(olds: HaproxyOutputs): Promise<void> {
    if (olds.host.placement === "incus") await stopReceiverInInstance(haproxyTarget(olds.host), olds.host.instance);
    else if (olds.accessLog) stopReceiverOnHost(olds.accessLog);
    progress("access log: bluegreen:accessLog is unset; its receiver is stopped");
}

export async function isRunning(i: HaproxyInputs): Promise<boolean> {
    const p = await showProc(haproxyChannel(i.host, i.layout, "master")).catch(() => undefined);
    return !!p && p.workers.length > 0;
}

/** Removes HAProxy, unless a color still serves traffic through it. */
export async function removeHaproxy(props: HaproxyOutputs): Promise<void> {
    const live = await readActiveColor(props.host, props.layout.stateDir).catch(() => undefined);
    if (live) {
        throw refused(
            `refusing to remove HAProxy: ${live} still serves traffic through it (${activeColorPath(props.layout.stateDir)}). ` +
                `Destroy the whole stack (the switch goes first), or keep HAProxy in the program.`,
        );
    }
    if (props.host.placement === "incus") {
        await deleteInstance(haproxyTarget(props.host), props.host.instance);
        // Incus leaves its proxy sockets behind (none with a remote: they would be the remote's files).
        if (!props.host.remote) for (const sock of [props.layout.hostAdminSocket, props.layout.hostMasterSocket]) fs.rmSync(sock, { force: true });
        return;
    }
    const p = await showProc(haproxyChannel(props.host, props.layout, "master"));
    if (p) {
        const kill = { argv: ["kill", "-TERM", String(p.masterPid)] };
        const r = await run(kill);
        if (r.code !== 0) throw cmdError(kill, r, "cannot stop haproxy");
        progress(`haproxy: stopped master ${p.masterPid}`);
    }
    if (props.accessLog) stopReceiverOnHost(props.accessLog);
    // The stack's host state goes with it, so a stack brought up again starts clean.
    for (const f of [...haproxyFiles(props.layout), activeColorPath(props.layout.stateDir)]) fs.rmSync(f, { force: true });
    progress(`haproxy: removed its files from ${props.layout.stateDir} (the history and audit log stay)`);
}

/** Live state for refresh. */
export async function readHaproxy(props: HaproxyOutputs): Promise<HaproxyOutputs> {
    const p = await showProc(haproxyChannel(props.host, props.layout, "master")).catch(() => undefined);
    return { ...props, running: !!p && p.workers.length > 0, masterPid: p?.masterPid ?? 0 };
}

/**
 * Where the frontend listens with a remote: the address of HAProxy's own member on a cluster
 * (haproxy.member may differ from the member in the remote's URL), else the remote's.
 */
export async function frontendAddress(target: IncusTarget, member?: string): Promise<string> {
    if (!member) return serverAddress(target);
    const m = await readMember(target, member, "so the frontend has no address to listen on");
    if (!m.address) throw new Error(`member ${member} names no address of its own in incus cluster list; set its core.https_address`);
    return m.address;
}
