// `status`: the stack at a glance, from live state. Reads only; changes nothing. Every
// read that fails becomes part of the report instead of an error, so the view is
// there even when HAProxy or Incus is not.

import { previewUrl } from "../model/edge/preview";
import { HaproxyHost, describeHost, readHostFile, validateConfig } from "../io/haproxyHost";
import type { Probe } from "../io/http";
import { getInstance } from "../io/incus";
import { askAgain, probeAll } from "../io/prober";
import { serversState, showProc } from "../io/runtimeApi";
import type { CanaryRecord } from "../model/rollout/canary";
import type { StackConfig } from "../model/config";
import { fileActive } from "../model/traffic/haproxyConfig";
import {
    COLORS,
    Color,
    Node,
    containerName,
    haproxyBackendName,
    haproxyLayout,
    isComponentBackend,
    isServiceBackend,
    nodesOf,
    otherColor,
    statefulName,
    statefulVolumeName,
} from "../model/naming";
import { appUrl, colorHostPort, haproxyChannel, haproxyHostOf, incusTarget, loopbackUrl, probeRoute } from "../model/traffic/topology";
import { canaryRecordPath, parseCanaryRecord } from "./rollout/canary";
import { historyPath, readActiveColor } from "./safety/history";
import { judge } from "./traffic/health";
import { readAlerts, readLastGood, readSnapshotMeta } from "./stateful/snapshot";
import type { RollbackAlert } from "../model/stateful/stateful";
import { AuditEvent, describeEvent } from "../model/safety/audit";
import { LockRecord, LockState, describeHolder } from "../model/safety/lock";
import { readAudit } from "./safety/audit";
import { readLockState } from "./safety/lock";
import { ShiftRecord, parseShiftRecord } from "../model/rollout/shift";
import { shiftRecordPath } from "./rollout/shift";
import { describeServed } from "./traffic/switch";
import { PlacementView, placementView } from "./cluster/placement";
import { ACME_CERTIFICATE, CertificateView, certificateView, describeCertificateView } from "../model/edge/acme";
import { certificatePath } from "../model/edge/tls";
import { MaintenanceView, describeMaintenanceView, maintenanceMapPath, maintenanceView } from "../model/edge/maintenance";
import { readLiveMaintenance } from "./edge/maintenance";

/** Bumped only when a field changes meaning or goes away; new sections may be added. */
export const STATUS_VERSION = 1;

export interface ContainerStatus {
    readonly component: string;
    /** Its node in the color's pool; absent for a pool of one. */
    readonly node?: number;
    readonly name: string;
    /** Incus status in capitals (RUNNING, STOPPED, FROZEN...), ABSENT, or UNKNOWN when Incus could not be asked. */
    readonly state: string;
    /** The release the container's own record names (`user.bluegreen.release`). */
    readonly release?: string;
    readonly healthy: boolean;
    /** Why it is (not) healthy: `HTTP 200`, `HTTP 500: ...`, `no response: ...`. */
    readonly health: string;
    readonly url: string;
}

export interface ServerStatus {
    readonly backend: string;
    readonly server: string;
    readonly weight: number;
    /** HAProxy's view: UP, DOWN, STARTING, STOPPING. */
    readonly state: string;
    /** ready, drain or maint. */
    readonly admin: string;
}

export interface StatusReport {
    readonly version: number;
    readonly stack: string;
    readonly active: {
        /** What bluegreen:active says. */
        readonly config: Color;
        /** What the active-color file says, or "none". */
        readonly recorded: string;
        /** What HAProxy's live weights serve: a color, a split, "mixed", "none", or "unknown" while HAProxy is down. */
        readonly served: string;
        /** True when the three disagree. */
        readonly drift: boolean;
    };
    readonly colors: Partial<Record<Color, { readonly release: string; readonly containers: readonly ContainerStatus[] }>>;
    readonly haproxy: {
        readonly host: string;
        readonly running: boolean;
        readonly masterPid?: number;
        readonly reloads?: number;
        /** `haproxy -c` of the config it serves; undefined when it could not be checked. */
        readonly configValid?: boolean;
        readonly configError?: string;
        /** The color the served config's header names. */
        readonly configActive?: string;
        readonly servers: readonly ServerStatus[];
        readonly error?: string;
        /** bluegreen:preview: how to reach the idle color through the frontend; absent when unset. */
        readonly preview?: string;
    };
    /** The last lines of the history file, oldest first. */
    readonly history: readonly string[];
    /**
     * The last canary of the serving color, from its record: phase, release, the
     * last-known-good, the last probe; absent when there never was one. Each node's
     * release is in `colors.<color>.containers`.
     */
    readonly canary?: CanaryRecord;
    /** Each stateful service (bluegreen:stateful), sorted by name; absent when there is none. */
    readonly stateful?: readonly StatefulStatus[];
    /** The deploy lock: free, held (with its record) or stale (with why). */
    readonly lock: { readonly state: string; readonly holder?: string; readonly why?: string; readonly record?: LockRecord };
    /** The last lines of the audit log, oldest first. */
    readonly audit: readonly AuditEvent[];
    /** The last progressive shift: its step, split and last probe; absent when there never was one. The live split is `active.served`. */
    readonly shift?: ShiftRecord;
    /** On a cluster: each member's state and each instance's member and address; absent on this host. */
    readonly placement?: PlacementView;
    /** Each certificate HAProxy's TLS listeners load (tls.certificates, tls.acme): names and expiry; absent without TLS. */
    readonly certificates?: readonly (CertificateView | { readonly name: string; readonly error: string })[];
    /** bluegreen:maintenance: live on/off, what config asks, the allow-list, and who set it when; absent while the key is unset. */
    readonly maintenance?: MaintenanceView;
}

export interface StatefulStatus {
    readonly name: string;
    readonly container: string;
    /** What config says it runs. */
    readonly release: string;
    /** What Incus says it runs. */
    readonly liveRelease?: string;
    readonly state: string;
    readonly healthy: boolean;
    readonly health: string;
    readonly url: string;
    /** The path HAProxy routes to it (its server is in haproxy.servers, backend svc_<name>). */
    readonly route?: string;
    /** The release known healthy. */
    readonly lastGood?: string;
    /** The known-good snapshot. */
    readonly snapshot?: { readonly id: string; readonly release: string; readonly time: string; readonly volumes: readonly string[] };
    readonly volumes: readonly { readonly name: string; readonly volume: string; readonly pool: string }[];
    /** Its last rollback alerts, oldest first. */
    readonly alerts: readonly RollbackAlert[];
}

const OP_STATES = ["STOPPED", "STARTING", "UP", "STOPPING"];

/** Pure: HAProxy's srv_op_state and srv_admin_state in words. */
export function serverWords(opState: number, adminState: number): { state: string; admin: string } {
    const up = opState === 2 ? "UP" : opState === 0 ? "DOWN" : (OP_STATES[opState] ?? `state ${opState}`);
    const admin = adminState & 0x67 ? "maint" : adminState & 0x18 ? "drain" : "ready";
    return { state: up, admin };
}

/** Pure: the three views of the active color disagree. */
export function activeDrift(config: Color, recorded: string, served: string): boolean {
    return recorded !== config || served !== config;
}

const HISTORY_LINES = 10;

/** The probe of a URL; every probe of a status runs at once, along one route (probeRoute). */
type Prober = (url: string) => Promise<Probe>;

/** Pure: every URL `status` probes on the Incus host's loopback: each node of each present color, then each stateful service. */
export function statusProbeUrls(config: StackConfig, addresses: Addresses = {}): string[] {
    return [
        ...COLORS.filter((c) => config.colors[c]).flatMap((color) =>
            config.components.flatMap((c) => nodesOf(c.nodes).map((n) => nodeUrl(config, addresses, c, color, n))),
        ),
        ...config.stateful.map((svc) => serviceUrl(config, addresses, svc)),
    ];
}

/** Instance name to its routed address (`network: routed`); empty on the proxy model. */
type Addresses = Readonly<Record<string, string>>;

/** A node's health URL: its routed address at the app's port, else its host port on loopback. */
function nodeUrl(config: StackConfig, addresses: Addresses, c: StackConfig["components"][number], color: Color, n: Node): string {
    const address = addresses[containerName(config.prefix, c.name, color, n)];
    return address ? appUrl(c.port, c.healthPath, address) : loopbackUrl(colorHostPort(c.hostPort, color, n), c.healthPath);
}

function serviceUrl(config: StackConfig, addresses: Addresses, svc: StackConfig["stateful"][number]): string {
    const address = addresses[statefulName(config.prefix, svc.name)];
    return address ? appUrl(svc.port, svc.healthPath, address) : loopbackUrl(svc.hostPort, svc.healthPath);
}

/**
 * Probes them all where the traffic comes from (io/prober.ts): here, or with a remote in one
 * exec inside the HAProxy instance, whose loopback the apps' proxy devices reach.
 */
function probeEach(config: StackConfig, host: HaproxyHost, addresses: Addresses): Prober {
    const urls = statusProbeUrls(config, addresses);
    const route = probeRoute(host);
    const targets = urls.map((url) => ({ url, timeoutMs: config.health.timeoutMs }));
    // A probe left unanswered on a loaded host is asked again before status calls a node down.
    const all = probeAll(route, targets).then(async (probes) => {
        await askAgain(
            route,
            targets,
            probes,
            probes.map((_, k) => k),
            (k) => urls[k],
            "status",
        );
        return probes;
    });
    return async (url) => (await all)[urls.indexOf(url)];
}

async function containerStatus(
    config: StackConfig,
    addresses: Addresses,
    probed: Prober,
    color: Color,
    component: StackConfig["components"][number],
    node: Node,
): Promise<ContainerStatus> {
    const name = containerName(config.prefix, component.name, color, node);
    const url = nodeUrl(config, addresses, component, color, node);
    const status = await containerState(config, probed, name, url, component);
    return node === undefined ? status : { ...status, node };
}

async function containerState(
    config: StackConfig,
    probed: Prober,
    name: string,
    url: string,
    component: Pick<StackConfig["components"][number], "name" | "healthStatus" | "healthBody">,
): Promise<ContainerStatus> {
    const [inst, p] = await Promise.all([getInstance(incusTarget(config.incus.remote), name).catch((e: Error) => e), probed(url)]);
    const v = judge(p, { status: component.healthStatus, ...(component.healthBody ? { body: component.healthBody } : {}) });
    if (inst instanceof Error)
        return { component: component.name, name, state: "UNKNOWN", healthy: v.healthy, health: `${v.reason} (Incus: ${inst.message})`, url };
    if (!inst) return { component: component.name, name, state: "ABSENT", healthy: false, health: "absent", url };
    return {
        component: component.name,
        name,
        state: inst.status.toUpperCase(),
        release: inst.config["user.bluegreen.release"],
        healthy: v.healthy,
        health: v.reason,
        url,
    };
}

async function haproxyStatus(host: HaproxyHost, layout: ReturnType<typeof haproxyLayout>, backends: readonly string[]) {
    const proc = await showProc(haproxyChannel(host, layout, "master")).catch(() => undefined);
    if (!proc || proc.workers.length === 0) return { running: false, servers: [], served: "unknown" };
    const [states, check, text] = await Promise.all([
        serversState(haproxyChannel(host, layout, "admin")).catch((e: Error) => e),
        validateConfig(host, layout.configPath).catch((e: Error) => e),
        readHostFile(host, layout.configPath).catch(() => undefined),
    ]);
    const servers =
        states instanceof Error
            ? []
            : states
                  .filter((s) => isComponentBackend(s.backend) || isServiceBackend(s.backend))
                  .map((s) => ({ backend: s.backend, server: s.server, weight: s.weight, ...serverWords(s.opState, s.adminState) }));
    return {
        running: true,
        masterPid: proc.masterPid,
        reloads: proc.reloads,
        ...(check instanceof Error
            ? {}
            : { configValid: check.code === 0, ...(check.code === 0 ? {} : { configError: (check.stderr.trim() || check.stdout.trim()).slice(0, 500) }) }),
        ...(text === undefined ? {} : { configActive: fileActive(text) }),
        servers,
        served: states instanceof Error ? "unknown" : describeServed(states, backends),
        ...(states instanceof Error ? { error: states.message } : {}),
    };
}

async function statefulStatus(
    config: StackConfig,
    addresses: Addresses,
    probed: Prober,
    host: HaproxyHost,
    stateDir: string,
    alerts: readonly RollbackAlert[],
): Promise<StatefulStatus[]> {
    return Promise.all(
        config.stateful.map(async (svc) => {
            const container = statefulName(config.prefix, svc.name);
            const url = serviceUrl(config, addresses, svc);
            const live = await containerState(config, probed, container, url, svc);
            const volumes = svc.volumes.map((v) => ({ name: v.name, volume: statefulVolumeName(config.prefix, svc.name, v.name), pool: svc.pool }));
            const store = { service: svc.name, container, target: incusTarget(config.incus.remote), pool: svc.pool, volumes, host, stateDir };
            const [lastGood, meta] = await Promise.all([readLastGood(store).catch(() => undefined), readSnapshotMeta(store).catch(() => undefined)]);
            return {
                name: svc.name,
                container,
                release: svc.release,
                ...(live.release ? { liveRelease: live.release } : {}),
                state: live.state,
                healthy: live.healthy,
                health: live.health,
                url,
                ...(svc.route ? { route: svc.route } : {}),
                ...(lastGood ? { lastGood } : {}),
                ...(meta ? { snapshot: { id: meta.id, release: meta.release, time: meta.time, volumes: meta.volumes } } : {}),
                volumes,
                alerts: alerts.filter((a) => a.service === svc.name).slice(-5),
            };
        }),
    );
}

/** Reads everything `status` shows. Never throws for live state it cannot read. */
export async function readStatus(config: StackConfig): Promise<StatusReport> {
    const host = haproxyHostOf(config.haproxy.placement, config.prefix, config.incus.remote);
    const layout = haproxyLayout(config.haproxy.placement, config.app, config.stack, config.haproxy.dir);
    const backends = config.components.map((c) => haproxyBackendName(c.name));
    // The placement first: on a routed network it says where each node is probed.
    const placement = await placementView(config);
    const addresses = placement && "addresses" in placement ? placement.addresses : {};
    const probed = probeEach(config, host, addresses);
    const [hx, recorded, history, canaryText, lock, auditLines, shiftText, ...colors] = await Promise.all([
        haproxyStatus(host, layout, backends),
        readActiveColor(host, layout.stateDir).catch(() => undefined),
        readHostFile(host, historyPath(layout.stateDir)).catch(() => undefined),
        readHostFile(host, canaryRecordPath(layout)).catch(() => undefined),
        readLockState({ host, stateDir: layout.stateDir }).catch((e: Error) => ({ state: "unknown", why: e.message }) as const),
        readAudit(host, layout.stateDir, HISTORY_LINES).catch(() => []),
        readHostFile(host, shiftRecordPath(layout)).catch(() => undefined),
        ...COLORS.filter((c) => config.colors[c]).map(async (color) => {
            const release = config.colors[color]!.release;
            return [
                color,
                {
                    release,
                    containers: await Promise.all(
                        config.components.flatMap((c) => nodesOf(c.nodes).map((n) => containerStatus(config, addresses, probed, color, c, n))),
                    ),
                },
            ] as const;
        }),
    ]);
    const { served, ...haproxy } = hx;
    const canary = parseCanaryRecord(canaryText);
    const shift = parseShiftRecord(shiftText);
    const stateful = config.stateful.length
        ? await statefulStatus(config, addresses, probed, host, layout.stateDir, await readAlerts(host, layout.stateDir, 50).catch(() => []))
        : undefined;
    const rec = recorded ?? "none";
    const certificates = await certificatesStatus(config, host, layout);
    const maintenance = config.maintenance ? await maintenanceStatus(config, host, layout) : undefined;
    return {
        version: STATUS_VERSION,
        stack: config.stack,
        active: { config: config.active, recorded: rec, served, drift: activeDrift(config.active, rec, served) },
        colors: Object.fromEntries(colors),
        haproxy: {
            host: describeHost(host),
            ...haproxy,
            ...(config.preview
                ? {
                      preview: previewUrl(
                          config.preview,
                          config.haproxy.frontendPort,
                          otherColor(config.active),
                          config.colors[otherColor(config.active)]?.release,
                      ),
                  }
                : {}),
        },
        history: (history ?? "").split("\n").filter(Boolean).slice(-HISTORY_LINES),
        ...(canary ? { canary } : {}),
        ...(stateful ? { stateful } : {}),
        lock: lockView(lock),
        audit: auditLines,
        ...(shift ? { shift } : {}),
        ...(placement ? { placement } : {}),
        ...(certificates.length ? { certificates } : {}),
        ...(maintenance ? { maintenance } : {}),
    };
}

/** The audit events read for who set maintenance: the whole log, within reason. */
const MAINTENANCE_AUDIT_LINES = 10_000;

async function maintenanceStatus(config: StackConfig, host: HaproxyHost, layout: ReturnType<typeof haproxyLayout>): Promise<MaintenanceView> {
    const [live, events] = await Promise.all([
        readLiveMaintenance({ host, layout, mapFile: maintenanceMapPath(layout) }).catch(() => undefined),
        readAudit(host, layout.stateDir, MAINTENANCE_AUDIT_LINES).catch(() => []),
    ]);
    return maintenanceView(config.maintenance!, live, events);
}

async function certificatesStatus(
    config: StackConfig,
    host: HaproxyHost,
    layout: ReturnType<typeof haproxyLayout>,
): Promise<NonNullable<StatusReport["certificates"]>> {
    const names = [...(config.tlsCertificates ?? []), ...(config.acme ? [ACME_CERTIFICATE] : [])];
    return Promise.all(
        names.map(async (name) => {
            const text = await readHostFile(host, certificatePath(layout, name)).catch(() => undefined);
            const view = text === undefined ? undefined : certificateView(name, text);
            return view ?? { name, error: text === undefined ? "not on the HAProxy host (`up` writes it)" : "unreadable" };
        }),
    );
}

/** Pure: the lock as status shows it. */
function lockView(l: LockState | { readonly state: "unknown"; readonly why: string }): StatusReport["lock"] {
    if (l.state === "free") return { state: "free" };
    if (l.state === "unknown") return { state: "unknown", why: l.why };
    return { state: l.state, holder: describeHolder(l.record), record: l.record, ...(l.state === "stale" ? { why: l.why } : {}) };
}

/**
 * The exit codes of `status`, for scripts and monitors; stable (the README lists them).
 * `config` is a stack config that does not validate (the runner's usage exit); `failed`,
 * status itself could not run or read what it needs.
 */
export const STATUS_EXIT = { ok: 0, failed: 1, config: 2, drift: 3, unhealthy: 4, locked: 5, paused: 6 } as const;

/** When several findings hold, the first in this order is the exit code. */
const URGENCY: readonly number[] = [STATUS_EXIT.unhealthy, STATUS_EXIT.failed, STATUS_EXIT.drift, STATUS_EXIT.paused, STATUS_EXIT.locked];

const VERDICT_WORDS: Record<number, string> = {
    [STATUS_EXIT.ok]: "ok",
    [STATUS_EXIT.failed]: "status could not read all it needs",
    [STATUS_EXIT.drift]: "the live stack differs from its config",
    [STATUS_EXIT.unhealthy]: "something that serves traffic is unhealthy",
    [STATUS_EXIT.locked]: "the deploy lock is held",
    [STATUS_EXIT.paused]: "a canary is paused",
};

export interface StatusVerdict {
    readonly code: number;
    /** Every finding, most urgent first: `unhealthy: ...`, `unknown: ...`, `drift: ...`, `canary paused: ...`, `lock held: ...`. */
    readonly reasons: readonly string[];
}

/** Pure: the colors HAProxy's live weights send traffic to; the config's when they cannot be read. */
function servingColors(r: StatusReport): Set<Color> {
    if (!r.haproxy.running || r.haproxy.error) return new Set([r.active.config]);
    const colors = r.haproxy.servers.filter((s) => s.weight > 0).map((s) => s.server.split("-")[0]);
    return new Set(COLORS.filter((c) => colors.includes(c)));
}

/** Pure: the exit code of a report, and why. */
export function statusVerdict(r: StatusReport): StatusVerdict {
    const found: { code: number; reason: string }[] = [];
    const add = (code: number, reason: string) => found.push({ code, reason });
    const h = r.haproxy;
    const serving = servingColors(r);
    if (!h.running) add(STATUS_EXIT.unhealthy, `unhealthy: HAProxy is not running on ${h.host}; nothing serves`);
    else if (h.error) add(STATUS_EXIT.failed, `unknown: cannot read HAProxy's weights (${h.error})`);
    else if (serving.size === 0) add(STATUS_EXIT.unhealthy, `unhealthy: HAProxy serves no color (every weight is 0)`);
    if (r.active.drift)
        add(STATUS_EXIT.drift, `drift: active color ${r.active.config} in config, ${r.active.recorded} in the active-color file, ${r.active.served} served`);
    for (const color of COLORS) {
        const c = r.colors[color];
        for (const k of c?.containers ?? []) {
            if (k.state === "UNKNOWN") add(STATUS_EXIT.failed, `unknown: cannot ask Incus about ${k.name} (${k.health})`);
            else if (k.state === "ABSENT") add(STATUS_EXIT.drift, `drift: ${k.name} is missing`);
            else if (k.state !== "RUNNING") add(STATUS_EXIT.drift, `drift: ${k.name} is ${k.state}`);
            else if (k.release !== c!.release) add(STATUS_EXIT.drift, `drift: ${k.name} runs ${k.release ?? "no recorded release"}, config says ${c!.release}`);
            if (serving.has(color) && !k.healthy) add(STATUS_EXIT.unhealthy, `unhealthy: ${k.name} serves traffic and is not healthy (${k.health})`);
        }
    }
    for (const svc of r.stateful ?? []) {
        if (svc.state === "UNKNOWN") add(STATUS_EXIT.failed, `unknown: cannot ask Incus about ${svc.container} (${svc.health})`);
        else if (svc.state === "ABSENT") add(STATUS_EXIT.drift, `drift: stateful ${svc.name} (${svc.container}) is missing`);
        else if (svc.liveRelease !== svc.release)
            add(STATUS_EXIT.drift, `drift: stateful ${svc.name} runs ${svc.liveRelease ?? "no recorded release"}, config says ${svc.release}`);
        if (!svc.healthy) add(STATUS_EXIT.unhealthy, `unhealthy: stateful ${svc.name} (${svc.container}) is not healthy (${svc.health})`);
    }
    if (r.canary?.phase === "paused")
        add(STATUS_EXIT.paused, `canary paused: ${r.canary.release} on ${r.canary.color} (last-known-good ${r.canary.from}); run up again to resume it`);
    if (r.lock.state === "held") add(STATUS_EXIT.locked, `lock held: ${r.lock.holder ?? "by someone"}`);
    else if (r.lock.state === "unknown") add(STATUS_EXIT.failed, `unknown: cannot read the deploy lock (${r.lock.why ?? "no reason given"})`);
    found.sort((a, b) => URGENCY.indexOf(a.code) - URGENCY.indexOf(b.code));
    return { code: found[0]?.code ?? STATUS_EXIT.ok, reasons: found.map((f) => f.reason) };
}

/** Pure: the verdict as the text view ends. */
export function describeVerdict(v: StatusVerdict): string {
    return `\nexit ${v.code}: ${VERDICT_WORDS[v.code] ?? "?"}\n${v.reasons.map((r) => `  ${r}\n`).join("")}`;
}

/** Pure: the report as an operator reads it. */
/** Pure: the placement section of `status`: the members' states first, then each pool and pinned instance. */
export function describePlacementView(p: PlacementView): string[] {
    if ("error" in p) return [`placement: UNKNOWN (${p.error})`];
    return ["placement:", ...p.lines.map((l) => `  ${l}`), ...p.problems.map((l) => `  PROBLEM: ${l}`)];
}

export function describeStatus(r: StatusReport): string {
    const out: string[] = [];
    const a = r.active;
    out.push(`stack ${r.stack}`);
    out.push(
        `active: ${a.config} (config), ${a.recorded} (active-color file), ${a.served} (HAProxy serves)${a.drift ? "  << DRIFT: run `up` to put the config's color back" : ""}`,
    );
    for (const color of COLORS) {
        const c = r.colors[color];
        if (!c) continue;
        out.push("", `${color}: release ${c.release}`);
        for (const k of c.containers) {
            const rel = k.release && k.release !== c.release ? ` runs ${k.release}` : "";
            out.push(`  ${k.name.padEnd(28)} ${k.state.padEnd(8)} ${k.healthy ? "healthy" : "UNHEALTHY"} (${k.health})${rel}  ${k.url}`);
        }
    }
    const h = r.haproxy;
    out.push("", `haproxy on ${h.host}: ${h.running ? `running (master ${h.masterPid}, ${h.reloads} reloads)` : "NOT RUNNING (`up` starts it)"}`);
    if (h.configValid !== undefined)
        out.push(`  config: ${h.configValid ? "valid" : `INVALID: ${h.configError}`}${h.configActive ? `, names ${h.configActive}` : ""}`);
    if (h.error) out.push(`  runtime API: ${h.error}`);
    if (h.preview) out.push(`  preview: ${h.preview}`);
    if (r.maintenance) out.push(`  ${describeMaintenanceView(r.maintenance)}`);
    for (const s of h.servers)
        out.push(`  ${`${s.backend}/${s.server}`.padEnd(28)} weight ${String(s.weight).padEnd(4)} ${s.state}${s.admin !== "ready" ? ` (${s.admin})` : ""}`);
    if (r.canary) {
        const c = r.canary;
        out.push("", `canary of ${c.release} on ${c.color} (last-known-good ${c.from}): ${c.phase}${c.lastProbe ? `, last probe ${c.lastProbe}` : ""}`);
        for (const why of c.reasons ?? []) out.push(`  ${why}`);
    }
    for (const svc of r.stateful ?? []) {
        const rel = svc.liveRelease && svc.liveRelease !== svc.release ? ` runs ${svc.liveRelease}` : "";
        out.push("", `stateful ${svc.name}: release ${svc.release}, last_good ${svc.lastGood ?? "(none)"}${svc.route ? `, routed at ${svc.route}` : ""}`);
        out.push(`  ${svc.container.padEnd(28)} ${svc.state.padEnd(8)} ${svc.healthy ? "healthy" : "UNHEALTHY"} (${svc.health})${rel}  ${svc.url}`);
        out.push(`  volumes: ${svc.volumes.map((v) => `${v.volume} (${v.pool})`).join(", ")}`);
        out.push(`  snapshot: ${svc.snapshot ? `${svc.snapshot.id} of ${svc.snapshot.release}, ${svc.snapshot.time}` : "(none)"}`);
        for (const a of svc.alerts) out.push(`  alert ${a.time}: ${a.attempted} rolled back to ${a.last_good}, recovered: ${a.recovered}`);
    }
    if (r.shift) {
        const sh = r.shift;
        out.push(
            "",
            `shift ${sh.from} -> ${sh.to} (${sh.release}): ${sh.phase}, step ${sh.step}/${sh.steps} at ${sh.percent}%${sh.lastProbe ? `, last probe ${sh.lastProbe}` : ""}`,
        );
        for (const why of sh.reasons ?? []) out.push(`  ${why}`);
    }
    if (r.placement) out.push("", ...describePlacementView(r.placement));
    if (r.certificates) {
        out.push("", "certificates:");
        for (const c of r.certificates) out.push(`  ${"error" in c ? `${c.name}: ${c.error}` : describeCertificateView(c, new Date())}`);
    }
    const lk = r.lock;
    out.push("", `deploy lock: ${lk.state}${lk.holder ? `, ${lk.holder}` : ""}${lk.why ? ` (${lk.why})` : ""}`);
    out.push("", "audit (last lines):");
    for (const e of r.audit) out.push(`  ${describeEvent(e)}`);
    if (r.audit.length === 0) out.push("  (none)");
    out.push("", "history (last lines):");
    for (const l of r.history) out.push(`  ${l}`);
    if (r.history.length === 0) out.push("  (none)");
    return out.join("\n") + "\n";
}
