// HAProxy in front of the colors (seed: roles/haproxy). Provisions it once and keeps
// it running: a master-worker process on this host (dev), or haproxy inside the
// `<prefix>haproxy` Incus instance (staging/prod), supervised by the image's init.
// The config it serves belongs to the switch; this only lays down a first one.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { activeColorPath, readActiveColor } from "./activeColor";
import { refused } from "./errors";
import { cmdError, check, run, startDetached } from "./exec";
import { renderConfig } from "./haproxyConfig";
import { HaproxyHost, describeHost, onHost, readHostFile, writeHostFile } from "./haproxyHost";
import { sleep } from "./health";
import {
    IncusTarget,
    ProxyDevice,
    addProxyCmd,
    createCmd,
    deleteInstance,
    filePushCmd,
    getInstance,
    proxyDevice,
    removeDeviceCmd,
    startCmd,
} from "./incus";
import type { HaproxyLayout } from "./naming";
import { progress } from "./progress";
import { showProc } from "./runtimeApi";

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
}

export interface HaproxyOutputs extends HaproxyInputs {
    readonly running: boolean;
    readonly masterPid: number;
}

/** Inside the instance, the image's init runs and restarts this. Constant: nothing from input. */
export const INSTANCE_START_SCRIPT =
    "#!/bin/sh\n# Started and restarted by the bluegreen image's init.\nmkdir -p /run/haproxy\n" +
    "exec haproxy -W -f /etc/haproxy/bluegreen.cfg -S /run/haproxy/master.sock\n";

/** Pure: the argv that starts haproxy as a master-worker with its master CLI. */
export function haproxyArgv(layout: HaproxyLayout): string[] {
    return ["haproxy", "-W", "-f", layout.configPath, "-S", layout.masterSocket];
}

/** Pure: the proxy devices the instance needs (name -> device). */
export function instanceProxies(i: Pick<HaproxyInputs, "frontendPort" | "exporterPort" | "backendPorts" | "layout">): Record<string, ProxyDevice> {
    const proxies: Record<string, ProxyDevice> = {
        frontend: { listenPort: i.frontendPort, connectPort: i.frontendPort },
        metrics: { listenPort: i.exporterPort, connectPort: i.exporterPort },
        // The runtime API over sockets on this host, not `incus exec socat`, whose output Incus may drop.
        "admin-sock": { listenSocket: i.layout.hostAdminSocket, connectSocket: i.layout.adminSocket },
        "master-sock": { listenSocket: i.layout.hostMasterSocket, connectSocket: i.layout.masterSocket },
    };
    // Inside the instance, 127.0.0.1:<port> leads to the app container's proxy on the host.
    for (const p of i.backendPorts) proxies[`be-${p}`] = { listenPort: p, connectPort: p, bind: "instance" };
    return proxies;
}

/** A first config: serves 404 until the switch writes the real one. */
export function bootstrapConfig(i: HaproxyInputs): string {
    return renderConfig({
        stack: i.stack,
        frontendPort: i.frontendPort,
        exporterPort: i.exporterPort,
        adminSocket: i.layout.adminSocket,
        pidFile: i.layout.pidFile,
        backends: [],
        extra: { global: [], defaults: [], frontend: [] },
    });
}

function instanceTarget(host: HaproxyHost): IncusTarget {
    return host.placement === "incus" ? { remote: host.remote } : {};
}

async function waitForMaster(i: HaproxyInputs, timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        const p = await showProc(i.layout.hostMasterSocket);
        if (p && p.workers.length > 0) return p.masterPid;
        await sleep(100);
    }
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

async function ensureOnHost(i: HaproxyInputs): Promise<number> {
    fs.mkdirSync(i.layout.stateDir, { recursive: true });
    fs.mkdirSync(path.dirname(i.layout.masterSocket), { recursive: true });
    await ensureConfig(i);
    const running = await showProc(i.layout.hostMasterSocket);
    if (running && running.workers.length > 0) return running.masterPid;
    await check(onHost(i.host, ["haproxy", "-c", "-f", i.layout.configPath]), "HAProxy rejects its current config");
    progress(`haproxy: starting master-worker on 127.0.0.1:${i.frontendPort} (log: ${i.layout.logFile})`);
    startDetached(haproxyArgv(i.layout), i.layout.logFile);
    return waitForMaster(i);
}

async function ensureInInstance(i: HaproxyInputs): Promise<number> {
    if (i.host.placement !== "incus") throw new Error("not an instance placement");
    const target = instanceTarget(i.host);
    const name = i.host.instance;
    const wanted = instanceProxies(i);
    // Incus creates the sockets, not their directory.
    for (const sock of [i.layout.hostAdminSocket, i.layout.hostMasterSocket]) fs.mkdirSync(path.dirname(sock), { recursive: true });
    let inst = await getInstance(target, name);
    if (!inst) {
        progress(`haproxy: creating instance ${name}`);
        await check(
            createCmd(target, name, {
                image: i.image,
                profiles: i.profiles,
                config: { "user.bluegreen.managed": "true", "user.bluegreen.stack": i.stack, "user.bluegreen.role": "haproxy" },
                proxies: wanted,
            }),
            `cannot create ${name}`,
        );
        inst = await getInstance(target, name);
    } else {
        // Keep the proxy devices in line with the backends: add new ports, drop stale ones.
        for (const [dev, p] of Object.entries(wanted)) {
            const have = inst.devices[dev];
            if (have && Object.entries(proxyDevice(p)).every(([k, v]) => have[k] === v)) continue;
            if (have) await check(removeDeviceCmd(target, name, dev));
            await check(addProxyCmd(target, name, dev, p), `cannot add proxy ${dev} to ${name}`);
        }
        for (const [dev, d] of Object.entries(inst.devices)) {
            if (d.type === "proxy" && !(dev in wanted)) await check(removeDeviceCmd(target, name, dev));
        }
    }
    if (inst?.status !== "Running") await check(startCmd(target, name), `cannot start ${name}`);
    // The config goes first: the init starts haproxy as soon as the start script appears.
    await ensureConfig(i);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-haproxy-"));
    try {
        const start = path.join(dir, "start");
        fs.writeFileSync(start, INSTANCE_START_SCRIPT, { mode: 0o755 });
        await check(filePushCmd(target, name, start, "/opt/bluegreen/app/start", "0755"), `cannot install the haproxy start script in ${name}`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    return waitForMaster(i);
}

async function ensure(i: HaproxyInputs): Promise<HaproxyOutputs> {
    const masterPid = i.host.placement === "host" ? await ensureOnHost(i) : await ensureInInstance(i);
    return { ...i, running: true, masterPid };
}

async function isRunning(i: HaproxyInputs): Promise<boolean> {
    const p = await showProc(i.layout.hostMasterSocket).catch(() => undefined);
    return !!p && p.workers.length > 0;
}

export const haproxyProvider: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: HaproxyOutputs, news: HaproxyInputs) {
        // Where this host reaches the sockets is a proxy device (or the same path): an update, not a replace.
        const fixed = (l: HaproxyLayout) => ({ ...l, hostAdminSocket: undefined, hostMasterSocket: undefined });
        const replaces = [
            ...(JSON.stringify(olds.host) !== JSON.stringify(news.host) ? ["host"] : []),
            ...(JSON.stringify(fixed(olds.layout)) !== JSON.stringify(fixed(news.layout)) ? ["layout"] : []),
        ];
        const changed = ["frontendPort", "exporterPort", "backendPorts", "image", "profiles", "stack", "layout"].some(
            (k) => JSON.stringify((olds as any)[k]) !== JSON.stringify((news as any)[k]),
        );
        // Supervision: a haproxy that died (or a rebooted host) is started again by the next `up`.
        const alive = replaces.length > 0 || (await isRunning(news));
        if (!alive) progress(`haproxy: not running on ${describeHost(news.host)}; pulumi up will start it`);
        return { changes: replaces.length > 0 || changed || !alive, replaces, deleteBeforeReplace: true };
    },

    async create(inputs: HaproxyInputs) {
        const outs = await ensure(inputs);
        return { id: inputs.host.placement === "host" ? `host:${inputs.layout.configPath}` : inputs.host.instance, outs };
    },

    async update(_id: string, _olds: HaproxyOutputs, news: HaproxyInputs) {
        return { outs: await ensure(news) };
    },

    async delete(_id: string, props: HaproxyOutputs) {
        const live = await readActiveColor(props.host, props.layout.stateDir).catch(() => undefined);
        if (live) {
            throw refused(
                `refusing to remove HAProxy: ${live} still serves traffic through it (${activeColorPath(props.layout.stateDir)}). ` +
                    `Destroy the whole stack (the switch goes first), or keep HAProxy in the program.`,
            );
        }
        if (props.host.placement === "incus") {
            await deleteInstance(instanceTarget(props.host), props.host.instance);
            // Incus leaves its proxy sockets behind.
            for (const sock of [props.layout.hostAdminSocket, props.layout.hostMasterSocket]) fs.rmSync(sock, { force: true });
            return;
        }
        const p = await showProc(props.layout.hostMasterSocket);
        if (p) {
            const r = await run({ argv: ["kill", "-TERM", String(p.masterPid)] });
            if (r.code !== 0) throw cmdError({ argv: ["kill", "-TERM", String(p.masterPid)] }, r, "cannot stop haproxy");
            progress(`haproxy: stopped master ${p.masterPid}`);
        }
    },

    async read(id: string, props: HaproxyOutputs) {
        const p = await showProc(props.layout.hostMasterSocket).catch(() => undefined);
        const running = !!p && p.workers.length > 0;
        const outs = { ...props, running, masterPid: p?.masterPid ?? 0 };
        const { running: _r, masterPid: _m, ...inputs } = outs;
        return { id, props: outs, inputs };
    },
};

export type HaproxyArgs = { readonly [K in keyof HaproxyInputs]: pulumi.Input<HaproxyInputs[K]> };

/** HAProxy itself: the process (dev) or the instance (staging/prod) that runs it. */
export class Haproxy extends pulumi.dynamic.Resource {
    declare public readonly running: pulumi.Output<boolean>;
    declare public readonly masterPid: pulumi.Output<number>;

    constructor(name: string, args: HaproxyArgs, opts?: pulumi.CustomResourceOptions) {
        super(haproxyProvider, name, { ...args, running: undefined, masterPid: undefined }, opts);
    }
}
