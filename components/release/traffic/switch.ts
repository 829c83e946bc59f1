// The switch (seed: veza_haproxy_switch): applies a traffic split to HAProxy and verifies it.
// render -> validate (`haproxy -c`) -> atomic swap keeping `.bak` -> apply (runtime
// weights, or a master-worker reload when the config's shape changed) -> verify
// through the frontend -> record active-color and history. Any failure after the
// swap restores `.bak` and reloads, so the previous color keeps serving.

import {
    HaproxyHost,
    createHostFileExclusive,
    describeHost,
    readHostFile,
    removeHostFile,
    renameHostFile,
    writeAndValidate,
    writeHostFile,
    writeHostFileThenRename,
} from "../../io/haproxyHost";
import { runOrThrow } from "../../io/exec";
import { getInstance, removeDeviceCmd } from "../../io/incus";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";
import {
    ServerState,
    adminAnswer,
    adminCommands,
    liveServer,
    parseServersState,
    parseShowProc,
    readyCommand,
    readyHint,
    refusedLine,
    reloadAndWait,
    serversState,
    setMapCommand,
    showProc,
} from "../../io/runtimeApi";
import { FLIP, flip, readAll } from "../../io/hotSwitch";
import type { CmdResult } from "../../io/exec";
import { refusal, refused } from "../../model/errors";
import {
    COLOR_HEADER,
    HaproxyModel,
    RELEASE_HEADER,
    ServiceBackendModel,
    configShape,
    fileActive,
    parseReleasesMap,
    releasesMapChanges,
    poolsOf,
    renderConfig,
    renderReleasesMap,
    serverNames,
    serverStateFor,
} from "../../model/traffic/haproxyConfig";
import {
    COLORS,
    Color,
    HaproxyLayout,
    Node,
    otherColor,
    haproxyBackendName,
    isComponentBackend,
    nodesOf,
    releasesMapPath,
    routePrefix,
    serverName,
    serverStatePath,
} from "../../model/naming";
import { AdminChannel, colorHostPort, haproxyChannel, haproxyTarget, incusTarget, loopbackUrl, probeRoute } from "../../model/traffic/topology";
import { probeAll } from "../../io/prober";
import { TrafficSplit, allOn, describeSplit, desiredWeights, servedSplit, weightCommands } from "../../model/traffic/traffic";
import { DEFAULT_EXPECT } from "./health";
import { activeColorPath, clearActiveColor, historyLine, historyPath, parseActiveColor, readActiveColor, recordActiveColor } from "../safety/history";
import type { PreviewSpec } from "../../model/edge/preview";
import { drainServers, saveServerState } from "./drain";
import { assertColorReady } from "./readiness";
import { auditChange, auditTo } from "../safety/audit";
import { ShiftSpec, runShift, shiftRecordPath } from "../rollout/shift";
import { RolloutRun, rolloutPath } from "../rollout/control";
import { parseJson, rejection } from "../../model/rollout/control";
import { parseShiftRecord, shiftsFrom } from "../../model/rollout/shift";
import { staleBackendDevices } from "./haproxy";
import { rollbackKind, servedHistory } from "../../model/safety/audit";
import { MaintenanceModel, PROBE_HEADER, maintenanceMapPath, maintenanceMapText, probeToken } from "../../model/edge/maintenance";
import { newProbeToken } from "../edge/maintenance";

export interface SwitchComponent {
    readonly name: string;
    readonly route: string;
    readonly healthPath: string;
    /**
     * Loopback ports of both colors' containers. Both colors are always in the config
     * (an absent one is just DOWN at weight 0), so its shape never changes with a
     * deploy or a cleanup, and every flip can be a runtime weight change.
     */
    readonly ports: Readonly<Record<Color, number>>;
    /** The active color's container, checked before traffic moves to it; for a pool, node n's is `<container>-<n>`. */
    readonly container: string;
    /** Nodes per color; absent for a pool of one (inputs carry only what is not a default). */
    readonly nodes?: number;
    /** Statuses of a healthy answer; absent means 200-299 (inputs carry only what is not a default). */
    readonly healthStatus?: string;
    readonly healthBody?: string;
    /** bluegreen:network mode routed: each node's address, by color, in node order, reached at the app's `port`; absent: loopback ports. */
    readonly routed?: { readonly port: number; readonly addresses: Readonly<Record<Color, readonly string[]>> };
    /** components.<name>.hosts when set: the route is matched within them. */
    readonly hosts?: readonly string[];
    /** components.<name>.balance when not roundrobin. */
    readonly balance?: string;
    /** components.<name>.haproxy when set. */
    readonly haproxy?: readonly string[];
}

export interface SwitchInputs {
    readonly stack: string;
    readonly host: HaproxyHost;
    readonly layout: HaproxyLayout;
    /** `runtime`: flip weights over the admin socket when only weights change. `reload`: always reload. */
    readonly method: "runtime" | "reload";
    readonly active: Color;
    /** The active color's release: checked on its containers, written to the history. */
    readonly release: string;
    readonly frontendPort: number;
    readonly exporterPort: number;
    readonly extra: HaproxyModel["extra"];
    /** bluegreen:haproxy.listen with its certificate files; absent when unset. */
    readonly edge?: HaproxyModel["edge"];
    /** bluegreen:preview; absent when unset. */
    readonly preview?: PreviewSpec;
    /** With bluegreen:preview, the idle color's deployed release, which its preview answers name; absent otherwise. */
    readonly previewRelease?: string;
    readonly components: readonly SwitchComponent[];
    /**
     * Nodes of the active color on a member that does not answer (model/cluster/placement.ts): HAProxy
     * keeps them DOWN and they wait for their member, so the readiness check skips them. A
     * switch onto such a color is refused before (release/cluster/placement.ts flipProblems).
     */
    readonly waiting?: readonly string[];
    /**
     * `backend/server` of either color drained for bluegreen:incus.drain (model/cluster/placement.ts
     * memberDrain): they take no new requests and the readiness checks skip them. Absent when none.
     */
    readonly drained?: readonly string[];
    /** Routed stateful services; absent when none is (inputs carry only what is not a default). */
    readonly services?: readonly ServiceBackendModel[];
    /** The Incus remote of the app containers. */
    readonly remote?: string;
    /** With a remote: the stateful services' ports, whose `be-` devices the prober uses; never pruned. Absent otherwise. */
    readonly probePorts?: readonly number[];
    /** bluegreen:broadcast; absent when unset. */
    readonly broadcast?: string;
    /** bluegreen:hooks.passEnv, for the broadcast; absent when unset. */
    readonly passEnv?: readonly string[];
    /** bluegreen:progressive: a forward switch moves traffic by steps (release/rollout/shift.ts). Never a diff by itself. */
    readonly progressive?: ShiftSpec;
    /** bluegreen:switch.promotion: manual: a switch that moves traffic waits for `rollout promote`. Absent: it does not wait. */
    readonly gate?: { readonly gateTimeoutSeconds: number };
    /** bluegreen:maintenance's rule in the frontend; absent when the key is unset. */
    readonly maintenance?: MaintenanceModel;
    /** bluegreen:accessLog: the receiver's port fe_main logs to; absent when the key is unset. */
    readonly accessLogPort?: number;
    /** bluegreen:progressive.sticky or canary.sticky set: cookie persistence in every backend; absent: none. */
    readonly sticky?: boolean;
    /** Per-probe timeout for health checks. */
    readonly timeoutMs: number;
    /** Bound for waiting on HAProxy: servers coming UP, the frontend serving the new color. */
    readonly settleMs: number;
}

export interface SwitchOutputs extends SwitchInputs {
    /** What HAProxy's live weights serve: a color, a split (`blue=90,green=10`), "mixed" or "none". */
    readonly served: string;
    /** The color the active-color file names, or "none". */
    readonly recorded: string;
    /** Over a remote: the releases map as this run left it, for the next run's guarded flip. */
    readonly releasesMap?: string;
}

/** Pure: the split the inputs ask for. */
export function desiredSplit(i: Pick<SwitchInputs, "active">): TrafficSplit {
    return allOn(i.active);
}

/** Pure: true when the live state found by refresh differs from what the inputs ask for. */
export function drifted(olds: Pick<SwitchOutputs, "served" | "recorded">, news: Pick<SwitchInputs, "active">): boolean {
    return olds.served !== describeSplit(desiredSplit(news)) || olds.recorded !== news.active;
}

export function modelOf(i: SwitchInputs, split: TrafficSplit = desiredSplit(i)): HaproxyModel {
    return {
        stack: i.stack,
        split,
        release: i.release,
        frontendPort: i.frontendPort,
        exporterPort: i.exporterPort,
        adminSocket: i.layout.adminSocket,
        pidFile: i.layout.pidFile,
        serverStateFile: serverStatePath(i.layout),
        releasesMap: releasesMapPath(i.layout),
        extra: i.extra,
        ...(i.edge ? { edge: i.edge } : {}),
        backends: i.components.map((c) => ({
            component: c.name,
            route: c.route,
            healthPath: c.healthPath,
            ...expectOf(c),
            ...(c.hosts?.length ? { hosts: c.hosts } : {}),
            ...(c.balance ? { balance: c.balance } : {}),
            ...(c.haproxy?.length ? { extra: c.haproxy } : {}),
            servers: COLORS.flatMap((color) =>
                nodeTargets(c, color).map((t) => ({
                    color,
                    ...(t.node === undefined ? {} : { node: t.node }),
                    port: t.port,
                    ...(t.address ? { address: t.address } : {}),
                })),
            ),
        })),
        ...(i.services?.length ? { services: i.services } : {}),
        ...(i.maintenance ? { maintenance: i.maintenance } : {}),
        // Always: the canary's per-node check reaches one server with the map's token (model/edge/nodeProbe.ts).
        probeMap: maintenanceMapPath(i.layout),
        ...(i.accessLogPort ? { accessLogPort: i.accessLogPort } : {}),
        ...(i.preview ? { preview: { match: i.preview, color: otherColor(i.active) } } : {}),
        ...(i.sticky ? { sticky: true } : {}),
    };
}

/** Pure: a component's nodes of `color`: container, server and loopback port of each. */
export function nodeTargets(
    c: Pick<SwitchComponent, "container" | "ports" | "nodes" | "routed">,
    color: Color,
): { node: Node; container: string; server: string; port: number; address?: string }[] {
    const base = c.ports.blue;
    return nodesOf(c.nodes ?? 1).map((node, k) => ({
        node,
        container: node === undefined ? c.container : `${c.container}-${node}`,
        server: serverName(color, node),
        // Routed: the node's address at the app's port. Else ports.green is blue's + 1 for every node; node n is 2(n-1) further on.
        ...(c.routed
            ? { port: c.routed.port, address: c.routed.addresses[color][k] }
            : { port: node === undefined ? c.ports[color] : colorHostPort(base, color, node) }),
    }));
}

function backendsOf(i: SwitchInputs): string[] {
    return i.components.map((c) => haproxyBackendName(c.name));
}

/** Pure: how HAProxy's live servers split traffic, as the `served` output words it. */
export function describeServed(states: readonly ServerState[], backends: readonly string[]): string {
    const split = servedSplit(states.map(liveServer), backends);
    return split === "mixed" ? "mixed" : describeSplit(split);
}

interface Live {
    readonly running: boolean;
    /** Undefined while HAProxy is down. */
    readonly served?: string;
    /** What the weights alone serve: a server drained or put in maintenance does not make it "mixed". */
    readonly weighted?: string;
    readonly states: readonly ServerState[];
    /** `show servers state` as HAProxy printed it: what a restore gives the next worker back. */
    readonly stateText?: string;
}

async function readLive(i: SwitchInputs): Promise<Live> {
    if (!(await showProc(haproxyChannel(i.host, i.layout, "master")))) return { running: false, states: [] };
    return liveOf(i, await adminCommands(haproxyChannel(i.host, i.layout, "admin"), ["show servers state"]));
}

/** Pure: the live state of a running HAProxy from its `show servers state`. */
function liveOf(i: SwitchInputs, stateText: string): Live {
    const states = parseServersState(stateText);
    const weighted = describeServed(
        states.map((x) => ({ ...x, adminState: 0 })),
        backendsOf(i),
    );
    return { running: true, served: describeServed(states, backendsOf(i)), weighted, states, stateText };
}

interface Before {
    readonly before: Live;
    readonly current?: string;
    readonly recorded?: Color;
    readonly mapHad?: string;
    /** The history's text (absent: ""), when the one read had it. */
    readonly history?: string;
}

/**
 * Over a remote: what the decision reads (HAProxy's master and servers state, the config, the
 * active color, the releases map) in one exec. When that answer is not whole, or HAProxy's is
 * odd (down, re-executing), the reads one by one, each with its own retries and verdict.
 */
async function readBeforeRemote(i: SwitchInputs, c: Extract<AdminChannel, { via: "exec" }>, mapFile: string): Promise<Before> {
    const L = i.layout;
    const r = await readAll(c.target, c.instance, { master: L.masterSocket, admin: L.adminSocket }, [
        L.configPath,
        activeColorPath(L.stateDir),
        mapFile,
        historyPath(L.stateDir),
    ]);
    const texts = r?.files.map((p) => (p.rc === undefined ? undefined : p.rc === 0 ? p.text : null));
    const answer = r?.state.rc === 0 ? adminAnswer(r.state.text) : undefined;
    if (r && texts && r.proc.rc === 0 && parseShowProc(r.proc.text) && answer !== undefined && !refusedLine(answer) && !texts.includes(null)) {
        return {
            before: liveOf(i, answer),
            current: texts[0] ?? undefined,
            recorded: parseActiveColor(texts[1] ?? undefined),
            mapHad: texts[2] ?? undefined,
            history: texts[3] ?? "",
        };
    }
    const [before, current, recorded, mapHad] = await Promise.all([
        readLive(i),
        readHostFile(i.host, L.configPath),
        readActiveColor(i.host, L.stateDir),
        readHostFile(i.host, mapFile),
    ]);
    return { before, current, recorded, mapHad };
}

/** What a flip over a remote is decided on when it skips the read: the state the last run left. */
export interface Guess {
    readonly before: Live;
    readonly current: string;
    readonly recorded: Color;
    readonly mapHad: string;
}

/**
 * Pure: over a remote, a plain flip of all traffic from the color the last run left serving
 * to the other, decided on that run's state instead of a read; the flip's one exec checks it
 * (FlipSpec.guard) before it writes anything. Undefined for anything else: it reads first.
 */
export function guessLive(i: SwitchInputs, prior: SwitchOutputs | undefined): Guess | undefined {
    if (!prior || prior.releasesMap === undefined || haproxyChannel(i.host, i.layout, "admin").via !== "exec") return undefined;
    // A gate, a shift, the maintenance map or a drained member each need what a read brings.
    if (i.method !== "runtime" || i.gate || i.progressive || i.maintenance || i.drained?.length || prior.drained?.length) return undefined;
    const was = modelOf(prior);
    if (prior.active === i.active || prior.recorded !== prior.active || prior.served !== prior.active || describeSplit(was.split) !== prior.active) {
        return undefined;
    }
    const current = renderConfig(was);
    const model = modelOf(i);
    const states: ServerState[] = desiredWeights(poolsOf(was), was.split)
        .filter((w) => isComponentBackend(w.backend))
        .map((w) => ({ backend: w.backend, server: w.server, opState: 2, adminState: 0, weight: w.weight }));
    if (configShape(current) !== configShape(renderConfig(model)) || !runsModel(states, model)) return undefined;
    return { before: { running: true, served: prior.active, weighted: prior.active, states }, current, recorded: prior.active, mapHad: prior.releasesMap };
}

/** The guarded flip found HAProxy not as the last run left it: nothing was written; read, then decide. */
class Differs extends Error {}

/** Pure: the refusal for a candidate HAProxy rejected. */
function rejected(reason: string, previous: string): Error {
    return refusal({
        what: `HAProxy rejected the rendered config: ${reason.slice(0, 1500)}`,
        untouched: `Nothing was changed; ${previous} still serves`,
        next: "Fix the setting that produced it (often bluegreen:haproxy.extra) and run pulumi up again",
    });
}

type ServerRef = { readonly backend: string; readonly server: string };

/** Pure: the target color's servers in every backend. */
function targetServers(i: SwitchInputs): ServerRef[] {
    return i.components
        .flatMap((c) => nodeTargets(c, i.active).map((t) => ({ backend: haproxyBackendName(c.name), server: t.server })))
        .filter((r) => !i.drained?.includes(`${r.backend}/${r.server}`));
}

/**
 * Pure: bluegreen:incus.drain against HAProxy's live state: the listed servers that still take
 * requests are drained; those it listed before (`was`) and no longer does are made ready, unless
 * something else holds them (maintenance). A server drained by anything else (a paused canary) is
 * never made ready here.
 */
export function memberDrainPlan(
    states: readonly ServerState[],
    drained: readonly string[],
    was: readonly string[],
): { drain: ServerRef[]; ready: ServerRef[] } {
    const key = (s: ServerRef) => `${s.backend}/${s.server}`;
    const FDRAIN = 0x08;
    return {
        drain: states.filter((s) => drained.includes(key(s)) && s.adminState === 0).map((s) => ({ backend: s.backend, server: s.server })),
        ready: states
            .filter((s) => was.includes(key(s)) && !drained.includes(key(s)) && s.adminState === FDRAIN)
            .map((s) => ({ backend: s.backend, server: s.server })),
    };
}

/** Applies memberDrainPlan, waiting (bounded) for the drained servers' sessions; saves the state so a reload keeps it. */
async function applyMemberDrain(i: SwitchInputs, states: readonly ServerState[], was: readonly string[]): Promise<void> {
    const p = memberDrainPlan(states, i.drained ?? [], was);
    if (p.drain.length === 0 && p.ready.length === 0) return;
    const channel = haproxyChannel(i.host, i.layout, "admin");
    if (p.ready.length > 0) {
        await adminCommands(
            channel,
            p.ready.map((r) => readyCommand(r.backend, r.server)),
        );
        progress(
            `drain: ${p.ready.map((r) => `${r.backend}/${r.server}`).join(", ")} take requests again (bluegreen:incus.drain no longer lists their member)`,
        );
    }
    await drainServers(channel, p.drain);
    await saveServerState(i.host, i.layout);
}

/** Pure: the wanted servers HAProxy has drained or put in maintenance (srv_admin_state), and which. */
export function notReady(states: readonly ServerState[], wanted: readonly ServerRef[]): (ServerRef & { admin: "drain" | "maint" })[] {
    return wanted.flatMap((w) => {
        const s = states.find((x) => x.backend === w.backend && x.server === w.server);
        if (!s || s.adminState === 0) return [];
        // Maintenance flags (forced, inherited, config, resolution) win over drain's.
        return [{ ...w, admin: s.adminState & 0x67 ? ("maint" as const) : ("drain" as const) }];
    });
}

/** Pure: the wanted servers that would not take traffic: not running (srv_op_state 2) and ready, or absent. */
export function unavailable(states: readonly ServerState[], wanted: readonly ServerRef[]): ServerRef[] {
    return wanted.filter((w) => !states.some((s) => s.backend === w.backend && s.server === w.server && s.opState === 2 && s.adminState === 0));
}

/** Waits until HAProxy's own checks see every target server UP and ready, so a flip never lands on a DOWN or drained one. */
async function waitServersUp(i: SwitchInputs, known: readonly ServerState[], wanted: readonly ServerRef[]): Promise<void> {
    let down: string[] = [];
    const up = await poll(
        async (attempt) => {
            const states = attempt === 1 ? known : await serversState(haproxyChannel(i.host, i.layout, "admin"));
            down = unavailable(states, wanted).map((w) => (w.server === i.active ? w.backend : `${w.backend}/${w.server}`));
            return down.length === 0 ? true : undefined;
        },
        { intervalMs: 100, timeoutMs: i.settleMs },
    );
    if (!up) throw new Error(`HAProxy's health checks did not see ${i.active} UP in ${down.join(", ")} within ${i.settleMs} ms`);
}

/** Pure: every loopback port the model routes to (both colors, every node, routed services), ascending. */
export function backendPortsOf(m: HaproxyModel): number[] {
    return [...new Set([...m.backends.flatMap((b) => b.servers.map((s) => s.port)), ...(m.services ?? []).map((s) => s.port)])].sort((a, b) => a - b);
}

/** Pure: a component's health expectation in HAProxy's terms. */
function expectOf(c: SwitchComponent): { healthStatus: string; healthBody?: string } {
    return { healthStatus: c.healthStatus ?? DEFAULT_EXPECT.status, ...(c.healthBody ? { healthBody: c.healthBody } : {}) };
}

/** Polls the frontend until every component answers from the active color and release, as HAProxy names them. */
async function verifyServing(i: SwitchInputs): Promise<void> {
    const pending = new Set(i.components.map((c) => c.name));
    let last = "";
    // Through maintenance (bluegreen:maintenance): the switch checks the color that will serve once it is off.
    const token = i.maintenance ? probeToken(await readHostFile(i.host, i.maintenance.mapFile)) : undefined;
    const ok = await poll(
        async () => {
            // One batch per poll: with a remote, one exec into the HAProxy instance probes them all.
            const waiting = i.components.filter((c) => pending.has(c.name));
            // Status and headers only: a stream route's body never ends.
            const probes = await probeAll(
                probeRoute(i.host),
                // A host route answers only on its host: ask as its first host (and through maintenance, with the probe token).
                waiting.map((c) => {
                    const h = { ...(token ? { [PROBE_HEADER]: token } : {}), ...(c.hosts?.length ? { host: c.hosts[0] } : {}) };
                    return {
                        url: loopbackUrl(i.frontendPort, routePrefix(c.route)),
                        timeoutMs: i.timeoutMs,
                        body: false,
                        ...(Object.keys(h).length ? { headers: h } : {}),
                    };
                }),
            );
            for (const [k, c] of waiting.entries()) {
                const r = probes[k];
                const color = r.headers[COLOR_HEADER];
                const release = r.headers[RELEASE_HEADER];
                if (color === i.active && release === i.release) pending.delete(c.name);
                else last = `${c.name} answered HTTP ${r.status} from ${color ?? "no color"} ${release ?? "(no release)"}`;
            }
            return pending.size === 0 ? true : undefined;
        },
        { intervalMs: 20, timeoutMs: i.settleMs },
    );
    if (!ok) throw new Error(`the frontend did not serve ${i.active} within ${i.settleMs} ms (${last})`);
}

/** Pure: whether the running HAProxy has exactly the model's servers, so weights alone can switch. */
export function runsModel(states: readonly ServerState[], m: HaproxyModel): boolean {
    const key = (b: string, s: string) => `${b}/${s}`;
    const live = new Set(states.filter((s) => isComponentBackend(s.backend)).map((s) => key(s.backend, s.server)));
    const want = new Set(poolsOf(m).flatMap((p) => p.servers.map((s) => key(p.backend, s.name))));
    return live.size === want.size && [...want].every((k) => live.has(k));
}

/** Pure: the live servers of component backends that the model no longer has and that still take traffic. */
export function leavingServers(states: readonly ServerState[], m: HaproxyModel): { backend: string; server: string }[] {
    const want = new Set(poolsOf(m).flatMap((p) => p.servers.map((s) => `${p.backend}/${s.name}`)));
    const backends = new Set(poolsOf(m).map((p) => p.backend));
    return states
        .filter((s) => backends.has(s.backend) && !want.has(`${s.backend}/${s.server}`) && s.weight > 0)
        .map((s) => ({ backend: s.backend, server: s.server }));
}

/** A switch back to the color and release that served just before the current one: instant, never by steps. */
async function isFastRollback(i: SwitchInputs): Promise<boolean> {
    const history = servedHistory(await readHostFile(i.host, historyPath(i.layout.stateDir)));
    return rollbackKind(history, "switch", { color: i.active, release: i.release }) === "fast";
}

/** Saves runtime server state (drains, weights) where the next worker loads it, then reloads into `config`. */
async function reloadKeepingState(i: SwitchInputs, config: string): Promise<void> {
    await saveServerState(i.host, i.layout, config);
    await reloadAndWait(haproxyChannel(i.host, i.layout, "master"), i.settleMs);
}

/** Where the Switch that owns this stack's HAProxy writes its id: a replaced Switch's delete then leaves traffic alone. */
export function switchOwnerPath(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/switch-owner`;
}

/** Records `id` as the Switch that owns HAProxy (create and update; the newest one wins). */
export async function claimSwitch(i: Pick<SwitchInputs, "host" | "layout">, id: string): Promise<void> {
    const file = switchOwnerPath(i.layout);
    if ((await readHostFile(i.host, file))?.trim() !== id) await writeHostFile(i.host, file, `${id}\n`);
}

/** Incus placement: removes the instance's proxy devices to ports HAProxy no longer routes to, once the switch dropped them. */
async function pruneBackendDevices(i: SwitchInputs, model: HaproxyModel): Promise<void> {
    if (i.host.placement !== "incus") return;
    const target = haproxyTarget(i.host);
    const inst = await getInstance(target, i.host.instance);
    for (const dev of staleBackendDevices(inst?.devices ?? {}, [...backendPortsOf(model), ...(i.probePorts ?? [])])) {
        await runOrThrow(removeDeviceCmd(target, i.host.instance, dev), `cannot remove proxy ${dev} from ${i.host.instance}`);
        progress(`switch: removed ${dev} from ${i.host.instance}: HAProxy no longer routes there`);
    }
}

/**
 * bluegreen:switch.promotion: manual (Argo's autoPromotionEnabled: false): the target is
 * deployed and healthy, and the old color serves until \`rollout promote\`. An abort, or the
 * gate's timeout, leaves it serving and rejects the release until \`rollout retry\`.
 */
async function switchGate(i: SwitchInputs, previous: string, discard: () => Promise<unknown>): Promise<void> {
    const stateDir = i.layout.stateDir;
    const why = rejection(parseJson(await readHostFile(i.host, rolloutPath(stateDir))), "switch", i.release, i.active, i.stack);
    if (why) {
        await discard();
        throw refused(why);
    }
    const run = new RolloutRun(
        { host: i.host, stateDir, audit: auditTo(i.host, stateDir, i.stack, i.broadcast, i.passEnv) },
        { kind: "switch", release: i.release, from: previous, color: i.active },
        i.gate!.gateTimeoutSeconds,
    );
    try {
        const gate = await run.gate(`gate before the switch to ${i.active} (bluegreen:switch.promotion: manual)`);
        if (gate.kind === "aborted") {
            await run.finish(run.phase === "timedOut" ? "timedOut" : "aborted", gate.why);
            await discard();
            throw new Error(
                `switch to ${i.active} (${i.release}) ${gate.why}. Nothing was switched; ${previous} still serves. The release is rejected: ` +
                    `the next up with it refuses. Set bluegreen:active back to ${previous}, or run \`npm run local -- rollout retry --stack ${i.stack}\`.`,
            );
        }
        progress(`switch: promoted; switching traffic to ${i.active}`);
        await run.finish("done", "promoted; switching");
    } finally {
        await run.close();
    }
}

/**
 * Applies the switch. Idempotent: the same state again is a no-op with no reload.
 * `wasDrained`: the `drained` of the previous run, whose servers no longer listed are made ready.
 * `prior`: the previous run's outputs; over a remote a plain flip is decided on them and
 * guarded in its one exec, and read first only when HAProxy is not as they say.
 */
export async function applySwitch(i: SwitchInputs, wasDrained: readonly string[] = [], prior?: SwitchOutputs): Promise<SwitchOutputs> {
    const guess = guessLive(i, prior);
    if (guess) {
        try {
            return await applyOnce(i, wasDrained, guess);
        } catch (e) {
            if (!(e instanceof Differs)) throw e;
            progress(`switch: HAProxy is not as the last run left it (${e.message}); reading it first`);
        }
    }
    return applyOnce(i, wasDrained);
}

async function applyOnce(i: SwitchInputs, wasDrained: readonly string[], guess?: Guess): Promise<SwitchOutputs> {
    const started = Date.now();
    const L = i.layout;
    const ctx = auditTo(i.host, L.stateDir, i.stack, i.broadcast, i.passEnv);
    const targets = i.components.flatMap((c) => {
        const e = expectOf(c);
        return nodeTargets(c, i.active)
            .filter((t) => !i.waiting?.includes(t.container) && !i.drained?.includes(`${haproxyBackendName(c.name)}/${t.server}`))
            .map((t) => ({
                container: t.container,
                port: t.port,
                ...(t.address ? { address: t.address } : {}),
                healthPath: c.healthPath,
                expect: { status: e.healthStatus, body: e.healthBody },
                release: i.release,
            }));
    });
    const model = modelOf(i);
    const serversOf = (color: Color) => [...new Set(i.components.flatMap((c) => nodeTargets(c, color).map((t) => t.server)))];
    const activeServers = serversOf(i.active);
    // The idle color's servers, named before they ever serve: a preview answer says which release it is.
    const idle = i.previewRelease ? serversOf(otherColor(i.active)) : [];
    const named: [string, string][] = [
        ...idle.map((s): [string, string] => [s, i.previewRelease!]),
        ...activeServers.map((s): [string, string] => [s, i.release]),
    ];
    const wanted = describeSplit(model.split);
    const text = renderConfig(model);
    const candidate = `${L.configPath}.new`;
    // Over a remote the candidate is written only by the flip (or a shift's validation).
    const channel = haproxyChannel(i.host, L, "admin");
    const remote = channel.via === "exec" ? channel : undefined;
    let written = !remote;
    const discard = () => (written ? removeHostFile(i.host, candidate).catch(() => undefined) : Promise.resolve());

    // Everything before the swap only reads, or writes the candidate beside the live
    // config, so it runs at once: this is the switch's critical path.
    // The releases map goes first: the candidate names it, and `haproxy -c` opens it. The
    // running HAProxy reads it only at its next load, and runtime `set map` does the rest.
    const mapFile = releasesMapPath(L);
    const wantMap = (had: string | undefined) => renderReleasesMap({ ...parseReleasesMap(had), ...Object.fromEntries(named) }, serverNames(model));
    const ready = (probe = true) => assertColorReady(incusTarget(i.remote), i.active, targets, i.timeoutMs, probeRoute(i.host), probe);
    // The maintenance map is its resource's to write (release/edge/maintenance.ts); a first one says off.
    // It exists even without bluegreen:maintenance: the config's per-node route reads its token.
    const maintenanceMap = () => createHostFileExclusive(i.host, maintenanceMapPath(L), maintenanceMapText(false, newProbeToken()));
    let before: Live;
    let current: string | undefined;
    let recorded: Color | undefined;
    let map: { had?: string; want: string };
    let v: CmdResult | undefined;
    let history: string | undefined;
    if (remote && guess) {
        // Incus's record of the targets first (fail closed); the flip's exec checks the rest.
        await ready(false);
        ({ before, current, recorded } = guess);
        map = { had: guess.mapHad, want: wantMap(guess.mapHad) };
    } else if (remote) {
        // One exec of reads beside Incus's record of the targets (one query, no prober exec:
        // on the hot path HAProxy's own checks gate the flip, in its exec); the map, the
        // candidate and its validation go with the flip's one exec, after the decision.
        const [, r] = await Promise.all([ready(false), readBeforeRemote(i, remote, mapFile), i.maintenance ? maintenanceMap() : Promise.resolve()]);
        ({ before, current, recorded, history } = r);
        // A live config that reads the map proves it exists: no exec on the hot path, only the first time.
        if (!i.maintenance && !(current ?? "").includes(maintenanceMapPath(L))) await maintenanceMap();
        map = { had: r.mapHad, want: wantMap(r.mapHad) };
    } else {
        const mapText = (async () => {
            const had = await readHostFile(i.host, mapFile);
            const want = wantMap(had);
            if (want !== had) await writeHostFile(i.host, mapFile, want);
            return { had, want };
        })();
        const validation = (async () => {
            await mapText;
            await maintenanceMap();
            return writeAndValidate(i.host, candidate, text);
        })();
        try {
            [, before, current, recorded, v] = await Promise.all([
                ready(),
                readLive(i),
                readHostFile(i.host, L.configPath),
                readActiveColor(i.host, L.stateDir),
                validation,
            ]);
        } catch (e) {
            // The candidate may still be being written: let that finish, then remove it.
            await validation.catch(() => undefined);
            await discard();
            throw e;
        }
        map = await mapText;
    }

    if (!before.running) {
        await discard();
        throw new Error(`HAProxy is not running on ${describeHost(i.host)}; run pulumi up again (the haproxy resource starts it). Nothing was changed.`);
    }
    const previous = before.weighted && before.weighted !== "none" ? before.weighted : (recorded ?? "no color");
    const mapChanges = releasesMapChanges(map.had, map.want);
    if (current === text && before.served === wanted && recorded === i.active && mapChanges.every((s) => idle.includes(s))) {
        await discard();
        if (mapChanges.length > 0) {
            // Only the idle color's release changed: no switch, no history line, just the names.
            if (remote) await writeHostFile(i.host, mapFile, map.want);
            await adminCommands(
                haproxyChannel(i.host, L, "admin"),
                mapChanges.map((s) => setMapCommand(mapFile, s, i.previewRelease!)),
            );
            progress(`switch: ${i.active} already serves; the preview of ${otherColor(i.active)} names ${i.previewRelease}`);
        } else progress(`switch: ${i.active} already serves; nothing to do`);
        await applyMemberDrain(i, before.states, wasDrained);
        return { ...i, served: wanted, recorded: i.active, ...(remote ? { releasesMap: map.want } : {}) };
    }
    if (v && v.code !== 0) {
        await discard();
        throw rejected(v.stderr.trim() || v.stdout.trim(), previous);
    }
    // Traffic moves onto the target's servers only if each is ready. One the target already
    // serves through may stay drained (a paused canary node): no traffic moves onto it.
    const moving = before.weighted !== i.active;
    const held = notReady(before.states, targetServers(i));
    if (moving && held.length > 0) {
        await discard();
        throw refusal({
            what:
                `switching traffic to ${i.active} needs its servers ready; ` +
                held.map((h) => `${h.backend}/${h.server} is in ${h.admin === "drain" ? "drain" : "maintenance (maint)"}`).join(", "),
            next: [
                `make ${held.length > 1 ? "each" : "it"} ready if it is fit to serve (` +
                    held.map((h) => readyHint(haproxyChannel(i.host, L, "admin"), `set server ${h.backend}/${h.server} state ready`)).join(", ") +
                    ") and run pulumi up again",
                `keep bluegreen:active: ${otherColor(i.active)}`,
            ],
            untouched: `HAProxy was not touched; ${previous} still serves`,
        });
    }
    // Not a first switch (nothing serves to hold on to), nor a fast rollback (it must stay instant).
    const serving = before.weighted !== undefined && before.weighted !== "none";
    if (moving && i.gate && serving && !(await isFastRollback(i))) await switchGate(i, previous, discard);
    const hot = i.method === "runtime" && current !== undefined && configShape(current) === configShape(text) && runsModel(before.states, model);
    // A reload is not gated by HAProxy's checks: over a remote, the targets are probed first, as locally.
    if (remote && !hot) await ready();
    const from =
        hot && i.progressive
            ? shiftsFrom({
                  progressive: true,
                  target: i.active,
                  live: servedSplit(before.states.map(liveServer), backendsOf(i)),
                  recorded,
                  fastRollback: await isFastRollback(i),
                  unfinished: parseShiftRecord(await readHostFile(i.host, shiftRecordPath(L))),
              })
            : undefined;
    const shiftRejected = from ? rejection(parseJson(await readHostFile(i.host, rolloutPath(L.stateDir))), "shift", i.release, i.active, i.stack) : undefined;
    if (shiftRejected) {
        await discard();
        throw refused(shiftRejected);
    }
    // .bak keeps the config that serves (by its weights: a server in maintenance does not
    // change which). After an interrupted run the file may name a color that never served;
    // then the older .bak is still the right one to fall back to. A shift falls back to all
    // traffic on its old color.
    const bak = current !== undefined && current !== text && fileActive(current) === (before.weighted ?? "none") ? current : undefined;
    // A server the target already serves through and left drained stays as it is.
    const waitFor = targetServers(i).filter((t) => moving || !held.some((h) => h.backend === t.backend && h.server === t.server));
    // The release map first: during a shift, HAProxy already names the new release.
    const releases = named.map(([s, r]) => setMapCommand(mapFile, s, r));
    // A guess only ever leads to the hot flip; anything else is decided on a read.
    if (guess && (!hot || from || !moving || held.length > 0)) throw new Differs("the switch needs a read");
    let flipped = false;
    if (remote && from) {
        // A shift over a remote: its candidate is written and validated first, as locally.
        if (map.had !== map.want) await writeHostFile(i.host, mapFile, map.want);
        written = true;
        const r = await writeAndValidate(i.host, candidate, text);
        if (r.code !== 0) {
            await discard();
            throw rejected(r.stderr.trim() || r.stdout.trim(), previous);
        }
    }
    if (remote && !from) {
        // The hot path over a remote: from here to traffic moved is this one exec.
        const r = await flip({
            target: remote.target,
            instance: remote.instance,
            configPath: L.configPath,
            candidate: text,
            mapFile,
            ...(map.had !== map.want ? { map: map.want } : {}),
            ...(current !== undefined ? { live: current } : {}),
            bak: bak !== undefined,
            adminSocket: L.adminSocket,
            waitFor: hot ? waitFor.map((w) => `${w.backend}/${w.server}`) : [],
            settleMs: i.settleMs,
            commands: hot ? [...releases, ...weightCommands(desiredWeights(poolsOf(model), model.split))] : [],
            ...(guess ? { guard: { servers: guess.before.states, mapHad: guess.mapHad } } : {}),
        });
        const said = r.output || r.stderr || "Incus lost its output";
        if (guess && r.code === FLIP.differs) throw new Differs(said);
        if (r.code === FLIP.rejected) throw rejected(said, previous);
        if (r.code === FLIP.notUp) {
            throw new Error(
                `HAProxy's health checks did not see ${i.active} UP within ${i.settleMs} ms (${said}). Nothing was changed; ${previous} still serves. ` +
                    `Run pulumi up again once they pass, or keep bluegreen:active: ${otherColor(i.active)}.`,
            );
        }
        if (([FLIP.candidateWrite, FLIP.mapWrite, FLIP.changed, FLIP.swap] as number[]).includes(r.code)) {
            throw new Error(
                `switch to ${i.active} stopped before the swap on ${describeHost(i.host)} (exit ${r.code}: ${said}). Nothing was changed; ${previous} still serves. Run pulumi up again.`,
            );
        }
        if (r.code !== FLIP.ok) {
            // The candidate may be live: the runtime API refused, or the exec's fate is unknown.
            const why =
                r.code === FLIP.runtime ? `HAProxy's runtime API refused or did not answer (${said})` : `the flip's exec failed (exit ${r.code}: ${said})`;
            return restore(i, new Error(why), text, previous, before);
        }
        flipped = hot;
        progress(`switch: new config validated and swapped in (previous kept as ${L.configPath}.bak)`);
    } else if (from) {
        await writeHostFile(i.host, `${L.configPath}.bak`, renderConfig(modelOf(i, allOn(from))));
        // The config on disk always holds the split that is live: each step writes its own.
        await discard();
    } else {
        // .bak first, then the swap: in one round trip over a remote.
        if (bak !== undefined) await writeHostFileThenRename(i.host, `${L.configPath}.bak`, bak, candidate, L.configPath);
        else await renameHostFile(i.host, candidate, L.configPath);
        progress(`switch: new config validated and swapped in (previous kept as ${L.configPath}.bak)`);
    }

    try {
        if (flipped) {
            progress(`switch: weights flipped to ${i.active} over the runtime API, in the flip's exec`);
        } else if (hot) {
            await waitServersUp(i, before.states, waitFor);
            if (from) {
                await adminCommands(haproxyChannel(i.host, L, "admin"), releases);
                const apply = async (split: TrafficSplit) => {
                    const m = modelOf(i, split);
                    await adminCommands(haproxyChannel(i.host, L, "admin"), weightCommands(desiredWeights(poolsOf(m), split)));
                    const cfg = renderConfig(m);
                    await writeHostFile(i.host, L.configPath, cfg);
                    await saveServerState(i.host, L, cfg);
                };
                await runShift({
                    spec: i.progressive!,
                    from,
                    to: i.active,
                    release: i.release,
                    host: i.host,
                    layout: L,
                    audit: ctx,
                    apply,
                    frontendPort: i.frontendPort,
                });
            } else {
                await adminCommands(haproxyChannel(i.host, L, "admin"), [...releases, ...weightCommands(desiredWeights(poolsOf(model), model.split))]);
            }
            progress(`switch: weights flipped to ${i.active} over the runtime API${from ? ` (the last step of the shift from ${from})` : ""}`);
        } else {
            if (i.progressive) progress("switch: the config's shape changed, so this switch reloads and moves all traffic at once, without steps");
            // A node leaving a pool is drained before the reload forgets it.
            await drainServers(haproxyChannel(i.host, L, "admin"), leavingServers(before.states, model));
            await reloadKeepingState(i, text);
            progress(`switch: haproxy reloaded (master-worker)`);
        }
        await verifyServing(i);
    } catch (e) {
        return restore(i, e as Error, text, previous, before);
    }
    const at = new Date();
    await recordActiveColor(i.host, L.stateDir, i.active, i.release, at);
    progress(`switch: ${i.active} (${i.release}) serves traffic, ${Date.now() - started} ms`);
    // The history as now recorded, from the one read plus the line just appended.
    const known = history === undefined ? undefined : history + historyLine(at, i.active, i.release);
    await auditChange(ctx, "switch", { color: i.active, release: i.release }, { from: previous, ms: Date.now() - started }, known);
    // One more read, only while a member is drained (or was): a switch's round trips stay as they were.
    if ((i.drained?.length ?? 0) > 0 || wasDrained.length > 0) await applyMemberDrain(i, await serversState(channel), wasDrained);
    // Only now: a device goes once HAProxy no longer routes to it (a node that left a pool was drained and dropped).
    await pruneBackendDevices(i, model);
    return { ...i, served: wanted, recorded: i.active, ...(remote ? { releasesMap: map.want } : {}) };
}

/**
 * Puts `.bak` back and reloads, then fails the step: the previous color keeps serving.
 * The next worker loads the server state HAProxy had before this switch, so a drained
 * node (a paused canary) or a server put in maintenance by hand stays out of rotation.
 */
async function restore(i: SwitchInputs, cause: Error, attempted: string, previous: string, before: Live): Promise<never> {
    const L = i.layout;
    const bak = await readHostFile(i.host, `${L.configPath}.bak`);
    if (bak === undefined || bak === attempted) {
        throw new Error(`switch to ${i.active} failed: ${cause.message}. There is no previous config to restore; check haproxy on ${describeHost(i.host)}.`);
    }
    progress(`switch: failed (${cause.message}); restoring ${L.configPath}.bak`);
    try {
        await writeHostFile(i.host, L.configPath, bak);
        if (before.stateText !== undefined) await writeHostFile(i.host, serverStatePath(L), `${serverStateFor(before.stateText, bak).trimEnd()}\n`);
        else await removeHostFile(i.host, serverStatePath(L));
        await reloadAndWait(haproxyChannel(i.host, L, "master"), i.settleMs);
    } catch (e) {
        throw new Error(
            `switch to ${i.active} failed: ${cause.message}. Restoring ${L.configPath}.bak also failed: ${(e as Error).message}. ` +
                `Check haproxy on ${describeHost(i.host)} (log: ${L.logFile}).`,
        );
    }
    throw new Error(
        `switch to ${i.active} failed: ${cause.message}. Restored the previous config from ${L.configPath}.bak and reloaded; ` +
            `${previous} still serves. See ${L.logFile} on ${describeHost(i.host)} for HAProxy's reason.`,
    );
}

/**
 * Takes traffic off every color and clears the record, so the colors can be deleted.
 * A Switch that another one replaced (create-then-delete) leaves traffic alone: the new
 * one owns HAProxy.
 */
export async function removeSwitch(props: SwitchInputs, id: string): Promise<void> {
    const L = props.layout;
    const owner = (await readHostFile(props.host, switchOwnerPath(L)).catch(() => undefined))?.trim();
    if (owner && owner !== id) {
        progress(`switch: ${owner} owns HAProxy on ${describeHost(props.host)} now; the replaced switch ${id} leaves traffic as it is`);
        return;
    }
    if (await showProc(haproxyChannel(props.host, L, "master"))) {
        const model = modelOf(props, {});
        const zero = weightCommands(desiredWeights(poolsOf(model), model.split));
        await adminCommands(haproxyChannel(props.host, L, "admin"), zero).catch((e) => progress(`switch: could not zero weights: ${(e as Error).message}`));
    }
    await clearActiveColor(props.host, L.stateDir);
    // On disk too: a HAProxy started again serves nothing, and the cleanup guard reads it while HAProxy is down.
    if ((await readHostFile(props.host, L.configPath)) !== undefined) {
        await writeHostFile(props.host, L.configPath, renderConfig(modelOf(props, {})));
    }
    for (const file of [shiftRecordPath(L), switchOwnerPath(L)]) await removeHostFile(props.host, file);
    progress("switch: removed; no color serves traffic");
}

/** Live state for refresh: what HAProxy serves and what the active-color file says. */
export async function readSwitch(props: SwitchInputs): Promise<{ active: Color; served: string; recorded: string }> {
    const live = await readLive(props).catch((): Live => ({ running: false, states: [] }));
    const recorded = (await readActiveColor(props.host, props.layout.stateDir).catch(() => undefined)) ?? "none";
    const served = live.served ?? "none";
    const active = served === "blue" || served === "green" ? served : props.active;
    return { active, served, recorded };
}
