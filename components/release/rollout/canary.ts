// The canary (seed 002, "What happens, in order"): a release change of the color that
// serves, rolled out in place across its pools. Pre-flight (migration guard, both
// artifacts) -> every pool's canary node: drain, install, health, ready, LB check ->
// one SLI window over all of them -> the peers, one at a time. A red window puts every
// canary node of the release back on the last-known-good release at once (or, with
// onRed: pause, leaves them drained). A record on the HAProxy host lets a re-run after a
// kill resume where it stood, without restarting the window.

import * as fs from "fs";
import * as path from "path";
import { run as runCmd, runOrThrow } from "../../io/exec";
import { HaproxyHost, readHostFile, writeHostFile } from "../../io/haproxyHost";
import { InstanceInfo, configSetCmd, execCmd, filePushCmd, getInstance, restartCmd, runIdempotentOrThrow } from "../../io/incus";
import { poll } from "../../io/poll";
import { progress } from "../../io/progress";
import { prometheusClient } from "../../io/prometheus";
import { adminCommands, serversState, setMapCommand } from "../../io/runtimeApi";
import { withTempDir } from "../../io/tmp";
import {
    CanaryRecord,
    CanaryStart,
    PREVIOUS_LABEL,
    PoolNode,
    PoolSpec,
    canaryStart,
    keepPreviousCommand,
    planCanary,
    poolNodes,
    readyCommand,
    swapPreviousCommand,
    type UndoDecision,
    undoDecision,
} from "../../model/rollout/canary";
import { type ArtifactStoreSpec, type CanarySpec, DEFAULT_GATE_TIMEOUT_SECONDS, type HealthSpec } from "../../model/config";
import { refused } from "../../model/errors";
import { lookbackSeconds } from "../../model/rollout/promql";
import type { PrometheusInstance } from "../../model/rollout/prometheusConfig";
import { Color, HaproxyLayout, containerName, nodesOf, releasesMapPath, routePrefix } from "../../model/naming";
import { appUrl, haproxyChannel, incusTarget, loopbackUrl, probeRoute } from "../../model/traffic/topology";
import { maintenanceMapPath, probeToken } from "../../model/edge/maintenance";
import { nodeProbeHeaders, nodeProbeProblem, routesNode } from "../../model/edge/nodeProbe";
import { RELEASE_HEADER } from "../../model/traffic/haproxyConfig";
import { probeAll } from "../../io/prober";
import { AnalysisOptions, Clock, metricParseProblems, runAnalysis } from "./analysis";
import { RolloutRun } from "./control";
import { frontendBaseUrl, withLoad } from "../../io/load";
import { describeCounts, describeProbe } from "../../model/rollout/analysis";
import { RELEASE_PATH, fetchArtifact } from "../deploy";
import { drainServers, saveServerState } from "../traffic/drain";
import { stickyBackCommand, stickyOutCommand } from "../../model/edge/sticky";
import { DEFAULT_EXPECT, waitHealthy } from "../traffic/health";
import { checkMigrations } from "../stateful/migrationGuard";
import { ensurePrometheus } from "./prometheus";
import { ensureInstancePrometheus } from "./prometheusInstance";
import { audit, auditTo } from "../safety/audit";
import { runPostRollback } from "../safety/hooks";

export interface CanaryComponent extends PoolSpec {
    readonly healthPath: string;
    /** Its route and hosts: where the per-node check enters the frontend. */
    readonly route: string;
    readonly hosts?: readonly string[];
    readonly healthStatus?: string;
    readonly healthBody?: string;
}

export interface CanaryInputs {
    readonly stack: string;
    readonly prefix: string;
    /** The color that serves: the canary rolls its release in place. */
    readonly active: Color;
    readonly release: string;
    readonly components: readonly CanaryComponent[];
    readonly canary: CanarySpec;
    /** An operator's server (`url`), or the one the program runs in `dir` on `port`. */
    readonly prometheus: {
        readonly url?: string;
        readonly dir: string;
        readonly port: number;
        readonly scrapeIntervalSeconds: number;
        /** prometheus.placement: incus: the HAProxy instance it runs in. */
        readonly instance?: PrometheusInstance;
    };
    readonly host: HaproxyHost;
    readonly layout: HaproxyLayout;
    readonly exporterPort: number;
    readonly artifacts: ArtifactStoreSpec;
    readonly artifactToken?: string;
    readonly migrationsForce: boolean;
    /** bluegreen:migrations.block. */
    readonly migrationsBlock: readonly string[];
    readonly health: HealthSpec;
    readonly remote?: string;
    readonly settleMs: number;
    /** bluegreen:broadcast; absent when unset. */
    readonly broadcast?: string;
    /** bluegreen:hooks.passEnv, for the broadcast and postRollback; absent when unset. */
    readonly passEnv?: readonly string[];
    /** bluegreen:hooks.postRollback: run after the canary rolled itself back. */
    readonly postRollback?: string;
    /** bluegreen:haproxy.frontendPort: where the per-node check and bluegreen:canary.load enter. */
    readonly frontendPort: number;
}

export interface CanaryOutputs extends Omit<CanaryInputs, "artifactToken"> {
    /** The phase the last run ended in ("done" when the release runs on every node). */
    readonly phase: string;
}

/** Pure: the record's path, beside the active-color file. */
export function canaryRecordPath(layout: Pick<HaproxyLayout, "stateDir">): string {
    return `${layout.stateDir}/canary.json`;
}

/** Pure: the record file's content; undefined when absent or unreadable. */
export function parseCanaryRecord(text: string | undefined): CanaryRecord | undefined {
    try {
        return text ? (JSON.parse(text) as CanaryRecord) : undefined;
    } catch {
        return undefined;
    }
}

async function readRecord(i: CanaryInputs): Promise<CanaryRecord | undefined> {
    return parseCanaryRecord(await readHostFile(i.host, canaryRecordPath(i.layout)));
}

/** Pure: what the Canary resource stores: its inputs without the token, and the phase. */
export function canaryOutputs(i: CanaryInputs, phase: string): CanaryOutputs {
    const { artifactToken: _secret, ...rest } = i;
    return { ...rest, phase };
}

async function writeRecord(i: CanaryInputs, r: Omit<CanaryRecord, "updatedAt">): Promise<void> {
    await writeHostFile(i.host, canaryRecordPath(i.layout), JSON.stringify({ ...r, updatedAt: new Date().toISOString() }, null, 2) + "\n");
}

function componentOf(i: Pick<CanaryInputs, "components">, n: PoolNode): CanaryComponent {
    return i.components.find((c) => c.component === n.component)!;
}

/** The release a node's own record names, or undefined when it is gone. */
async function liveRelease(i: CanaryInputs, n: PoolNode): Promise<string | undefined> {
    const inst = await getInstance(incusTarget(i.remote), n.container);
    return inst?.config["user.bluegreen.release"];
}

/**
 * Puts the release into the node and restarts it (seed: push and restart, not a new
 * container). The release the node kept unpacked beside the running one is only swapped
 * in; any other is fetched and pushed, and the running one is kept as the previous.
 */
async function install(i: CanaryInputs, n: PoolNode, release: string, inst: InstanceInfo | undefined): Promise<void> {
    const target = incusTarget(i.remote);
    const running = inst?.config["user.bluegreen.release"];
    const label = (previous: string | undefined) =>
        runOrThrow(
            configSetCmd(target, n.container, {
                "user.bluegreen.release": release,
                "environment.BLUEGREEN_RELEASE": release,
                ...(previous ? { [PREVIOUS_LABEL]: previous } : {}),
            }),
            `cannot label ${n.container} with ${release}`,
        );
    if (running && inst?.config[PREVIOUS_LABEL] === release) {
        const swapped = await runCmd(execCmd(target, n.container, swapPreviousCommand()));
        if (swapped.code === 0) {
            progress(`${n.container}: ${release} is kept unpacked beside ${running}; restarting on it (no download)`);
            await label(running);
            await runOrThrow(restartCmd(target, n.container), `cannot restart ${n.container}`);
            return;
        }
        progress(`${n.container}: the kept ${release} could not be swapped in (exit ${swapped.code}); fetching it`);
    }
    const artifact = await fetchArtifact({ artifacts: i.artifacts, artifactToken: i.artifactToken, component: n.component, release });
    progress(`${n.container}: installing ${release} in place`);
    // The running tree becomes the one previous before the new tarball lands; the label
    // comes only after both, so a node never names a release it does not hold.
    await runOrThrow(execCmd(target, n.container, keepPreviousCommand()), `cannot keep ${running ?? "the running release"} as the previous in ${n.container}`);
    await withTempDir(async (dir) => {
        const file = path.join(dir, "release.tar.gz");
        fs.writeFileSync(file, new Uint8Array(artifact));
        await runIdempotentOrThrow(filePushCmd(target, n.container, file, RELEASE_PATH), `cannot push ${release} into ${n.container}`);
    });
    await label(running);
    await runOrThrow(restartCmd(target, n.container), `cannot restart ${n.container}`);
}

/** Pure: where a node's health is probed: its routed address at the app's port, else its loopback port. */
export function nodeHealthUrl(i: Pick<CanaryInputs, "components">, n: PoolNode): string {
    return appUrl(n.port, componentOf(i, n).healthPath, n.address);
}

async function healthy(i: CanaryInputs, n: PoolNode): Promise<{ healthy: boolean; reason: string }> {
    const c = componentOf(i, n);
    const attempts = Math.max(1, Math.ceil((i.canary.healthTimeoutSeconds * 1000) / i.health.intervalMs));
    const w = await waitHealthy(
        n.container,
        nodeHealthUrl(i, n),
        { ...i.health, attempts },
        {
            status: c.healthStatus ?? DEFAULT_EXPECT.status,
            ...(c.healthBody ? { body: c.healthBody } : {}),
        },
        probeRoute(i.host),
    );
    return { healthy: w.healthy, reason: w.reason };
}

/**
 * The LB-side check (seed 002): one request through the frontend, with the stack's probe token
 * and the server's name, must be answered by that server on `release`, as HAProxy names it.
 * A config rendered before this check has no such route (the switch renders it later in the
 * same up): then HAProxy's own check stands, and the progress says so.
 */
async function routedThrough(i: CanaryInputs, n: PoolNode, release: string): Promise<string | undefined> {
    const mapFile = maintenanceMapPath(i.layout);
    const [config, map] = await Promise.all([readHostFile(i.host, i.layout.configPath), readHostFile(i.host, mapFile)]);
    const token = probeToken(map);
    if (!token || !routesNode(config ?? "", n.backend, n.server, mapFile)) {
        progress(`${n.container}: HAProxy's config has no per-node route yet (this up's switch renders it); its own check stands`);
        return undefined;
    }
    const c = componentOf(i, n);
    const target = {
        url: loopbackUrl(i.frontendPort, routePrefix(c.route)),
        timeoutMs: i.health.timeoutMs,
        body: false,
        // The token goes on the prober's stdin, never in argv or a message.
        headers: { ...nodeProbeHeaders(token, n.server), ...(c.hosts?.length ? { host: c.hosts[0] } : {}) },
    };
    let last = "not asked";
    const ok = await poll(
        async () => {
            const [p] = await probeAll(probeRoute(i.host), [target]);
            const problem = nodeProbeProblem(p, n.server, release, RELEASE_HEADER);
            last = problem ?? "";
            return problem === undefined ? true : undefined;
        },
        { intervalMs: 100, timeoutMs: i.settleMs },
    );
    return ok ? undefined : `a request through the frontend for ${n.backend}/${n.server} was not answered by it within ${i.settleMs} ms (${last})`;
}

/**
 * Re-enables the node, names its release in HAProxy's map, waits for HAProxy's own check to
 * see it UP, then proves a request through the frontend reaches it. Returns why not, with the
 * node drained again.
 */
async function enable(i: CanaryInputs, n: PoolNode, release: string): Promise<string | undefined> {
    const nodes = i.components.find((c) => c.component === n.component)?.nodes ?? 1;
    await adminCommands(haproxyChannel(i.host, i.layout, "admin"), [
        setMapCommand(releasesMapPath(i.layout), n.server, release),
        ...(i.canary.sticky ? [stickyBackCommand(n.backend, n.server, nodes)] : []),
        readyCommand(n.backend, n.server),
    ]);
    let last = "not checked";
    const up = await poll(
        async () => {
            const s = (await serversState(haproxyChannel(i.host, i.layout, "admin"))).find((x) => x.backend === n.backend && x.server === n.server);
            last = s ? `opState ${s.opState}, adminState ${s.adminState}` : "absent";
            return s && s.opState === 2 && s.adminState === 0 ? true : undefined;
        },
        { intervalMs: 100, timeoutMs: i.settleMs },
    );
    const failure = up ? await routedThrough(i, n, release) : `HAProxy's check did not see ${n.backend}/${n.server} UP within ${i.settleMs} ms (${last})`;
    if (failure) {
        await takeOut(i, n);
        return `${n.container} on ${release}: ${failure}`;
    }
    await saveServerState(i.host, i.layout);
    progress(`${n.container}: ${release} serves through HAProxy (${n.backend}/${n.server} UP, ready, and a request through the frontend answered by it)`);
    return undefined;
}

/** Takes the node out of rotation (its sticky clients first), and saves that before anything else can reload HAProxy: the drain must outlive a reload. */
async function takeOut(i: CanaryInputs, n: PoolNode): Promise<void> {
    if (i.canary.sticky) await adminCommands(haproxyChannel(i.host, i.layout, "admin"), [stickyOutCommand(n.backend, n.server)]);
    await drainServers(haproxyChannel(i.host, i.layout, "admin"), [{ backend: n.backend, server: n.server }]);
    await saveServerState(i.host, i.layout);
}

/**
 * One node onto `release`: drain, install, health, ready, LB check. A node already on it
 * and healthy (a re-run after a kill) is only put back in rotation. Returns the health
 * failure, if any; the node is then left drained.
 */
async function roll(i: CanaryInputs, n: PoolNode, release: string): Promise<string | undefined> {
    // One read of the node's record: whether it already runs `release`, and what install keeps or swaps.
    const inst = await getInstance(incusTarget(i.remote), n.container);
    if (inst?.config["user.bluegreen.release"] === release) {
        const h = await healthy(i, n);
        if (h.healthy) return enable(i, n, release);
    }
    await takeOut(i, n);
    await install(i, n, release, inst);
    const h = await healthy(i, n);
    if (!h.healthy) return `${n.container} stayed unhealthy on ${release} for ${i.canary.healthTimeoutSeconds} s: ${h.reason}`;
    return enable(i, n, release);
}

/** Every canary node back on the last-known-good release, health-checked and re-enabled. */
async function rollBack(i: CanaryInputs, nodes: readonly PoolNode[], from: string): Promise<string[]> {
    const failed: string[] = [];
    for (const n of nodes) {
        progress(`canary: rolling ${n.container} back to ${from}`);
        const f = await roll(i, n, from).catch((e: Error) => e.message);
        if (f) failed.push(f);
    }
    return failed;
}

/** Pre-flight: nothing is touched unless the guard passes and both releases are in the store. */
async function preflight(i: CanaryInputs, from: string): Promise<void> {
    for (const c of i.components) {
        let next: Buffer;
        let running: Buffer;
        try {
            [next, running] = await Promise.all(
                [i.release, from].map((release) => fetchArtifact({ artifacts: i.artifacts, artifactToken: i.artifactToken, component: c.component, release })),
            );
        } catch (e) {
            throw refused(
                `canary of ${i.release} on ${i.active} refused before anything was drained: ${(e as Error).message}. ` +
                    `Both the new release and the last-known-good ${from} must be in the artifact store (a rollback installs ${from}); ` +
                    `publish them, then run pulumi up again. Nothing was touched.`,
            );
        }
        await checkMigrations({
            component: c.component,
            release: i.release,
            next,
            running,
            runningRelease: from,
            force: i.migrationsForce,
            block: i.migrationsBlock,
        });
    }
}

/** Pure: the refusal when the pools cannot be canaried. */
export function canaryPlanRefusal(problems: readonly string[]): string {
    return `the canary cannot start: ${problems.join("; ")}. Nothing was touched.`;
}

/**
 * The URL to ask. The Prometheus resource, which runs before the canary, writes the
 * targets; a server of ours that died since is started again here.
 */
async function sliServer(i: CanaryInputs): Promise<string> {
    if (i.prometheus.url) return i.prometheus.url;
    if (i.prometheus.instance) {
        const { url } = await ensureInstancePrometheus({
            instance: i.prometheus.instance,
            port: i.prometheus.port,
            scrapeIntervalSeconds: i.prometheus.scrapeIntervalSeconds,
            haproxyExporterPort: i.exporterPort,
        });
        return url;
    }
    const p = await ensurePrometheus({
        dir: i.prometheus.dir,
        port: i.prometheus.port,
        scrapeIntervalSeconds: i.prometheus.scrapeIntervalSeconds,
        haproxyExporterPort: i.exporterPort,
    });
    return p.url;
}

/** Pure: the bound on the wait for Prometheus to scrape every node before the window. */
export function scrapeWaitSeconds(i: Pick<CanaryInputs, "prometheus">): number {
    return Math.max(30, 5 * i.prometheus.scrapeIntervalSeconds);
}

/** Pure: how many of the color's app targets Prometheus scrapes successfully. */
export function scrapedQuery(color: Color, components: readonly string[]): string {
    return `count(up{color="${color}",component=~"${components.join("|")}"} == 1)`;
}

/**
 * Before the window opens: Prometheus must scrape every node of the color (a server just
 * started, or targets just written, has not yet), or the first probes would be "no data"
 * for a reason that says nothing of the release. Bounded; past the bound the window opens
 * anyway, and no data stays red.
 */
async function waitScraped(i: CanaryInputs, url: string, nodes: number): Promise<void> {
    const client = prometheusClient({ url });
    const query = scrapedQuery(
        i.active,
        i.components.map((c) => c.component),
    );
    const boundMs = scrapeWaitSeconds(i) * 1000;
    let seen = 0;
    const ok = await poll(
        async () => {
            const v = await client.query(query);
            seen = v.kind === "number" ? v.value : 0;
            return seen >= nodes ? true : undefined;
        },
        { intervalMs: 500, timeoutMs: boundMs },
    );
    if (ok) progress(`canary: Prometheus scrapes all ${nodes} nodes of ${i.active}; the window opens`);
    else
        progress(
            `canary: Prometheus scrapes ${seen} of ${nodes} nodes of ${i.active} after ${boundMs / 1000} s (is the target file in its scrape config?); the window opens anyway, and no data is red`,
        );
}

/** Pure: `$window` of the canary's probes. */
export function canaryLookback(i: Pick<CanaryInputs, "canary" | "prometheus">): number {
    const c = i.canary;
    return lookbackSeconds(c.probeIntervalSeconds, i.prometheus.url ? c.probeIntervalSeconds : i.prometheus.scrapeIntervalSeconds);
}

/** Pure: how long the load may run: the wait for scrapes (fresh) or nothing (resumed), the rest of the window, and one probe past its end. */
export function canaryLoadSeconds(i: Pick<CanaryInputs, "canary" | "prometheus">, startedAt: number | undefined, now: number): number {
    const c = i.canary;
    const rest = startedAt !== undefined ? Math.ceil((startedAt + c.windowSeconds * 1000 - now) / 1000) : scrapeWaitSeconds(i) + c.windowSeconds;
    return Math.max(1, rest) + c.probeIntervalSeconds + 2;
}

/** Custom metrics through Prometheus's own parser, before the canary drains anything. */
async function checkMetrics(i: CanaryInputs, url: string, fresh: boolean): Promise<void> {
    const metrics = i.canary.metrics ?? [];
    if (metrics.length === 0) return;
    const problems = await metricParseProblems(prometheusClient({ url }), metrics, {
        selector: { color: i.active, release: i.release },
        lookbackSeconds: canaryLookback(i),
        key: "bluegreen:canary.metrics",
    });
    if (problems.length > 0) {
        throw refused(
            `canary of ${i.release} refused: ${problems.join("; ")}. Fix the query (its placeholders are $selector and $window), then run pulumi up again.` +
                (fresh ? " Nothing was touched." : ""),
        );
    }
}

/**
 * `rollout abort` (or a gate that timed out): every node on the release goes back to the
 * last-known-good now, and the record rejects the release until `rollout retry`.
 */
async function abortCanary(
    i: CanaryInputs,
    run: RolloutRun,
    nodes: readonly PoolNode[],
    from: string,
    why: string,
    record: (phase: CanaryRecord["phase"], extra?: Partial<CanaryRecord>) => Promise<void>,
    hookAfterRollback: () => Promise<string>,
): Promise<never> {
    progress(`canary: ${why}; rolling ${nodes.map((n) => n.container).join(", ")} back to ${from} now`);
    const back = await rollBack(i, nodes, from);
    await record("rolledBack", { reasons: [why] });
    await run.finish(run.phase === "timedOut" ? "timedOut" : "aborted", why);
    const hook = await hookAfterRollback();
    throw new Error(
        `canary of ${i.release} ${why}. ` +
            (back.length === 0 ? `Every node it reached is back on ${from} and serving. ` : `Rolling back also failed: ${back.join("; ")}. `) +
            `The release is rejected: the next up with it refuses. Set bluegreen:colors.${i.active}.release back to ${from}, ` +
            `or run \`npm run local -- rollout retry --stack ${i.stack}\` to roll ${i.release} again.` +
            hook,
    );
}

/** Whether the config's release has every component's artifact in the store. */
async function inStore(i: CanaryInputs, release: string): Promise<boolean> {
    try {
        await Promise.all(i.components.map((c) => fetchArtifact({ artifacts: i.artifacts, artifactToken: i.artifactToken, component: c.component, release })));
        return true;
    } catch {
        return false;
    }
}

/** Is `i.release`, over `running`, an undo of the finished canary (model/rollout/canary.ts undoDecision)? */
async function decideUndo(i: CanaryInputs, running: string): Promise<UndoDecision> {
    const record = await readRecord(i);
    const stored = record?.from === i.release && (await inStore(i, i.release));
    return undoDecision(record, i.active, running, i.release, stored);
}

/** Preview: how the release change will run, when it is (or looks like) an undo. */
export async function previewRelease(i: CanaryInputs, running: string): Promise<void> {
    const d = await decideUndo(i, running).catch(() => undefined);
    if (d?.kind === "undo")
        progress(`canary: pulumi up will roll ${i.active} back to ${i.release} (undo of ${running}): a rollback, no window, nodes one at a time`);
    else if (d?.why) progress(`canary: ${i.release} on ${i.active}: ${d.why}`);
}

/**
 * The undo: every node of the color back on the finished canary's last-known-good, one at a
 * time, drained first; no window (the release served before, judged). Audited as a rollback.
 * A re-run after a kill finds the same record and skips the nodes already back.
 */
async function undoCanary(i: CanaryInputs, running: string): Promise<CanaryOutputs> {
    const started = Date.now();
    const nodes = i.components.flatMap((c) => poolNodes(i.prefix, i.active, c));
    progress(
        `canary: undo: ${i.release} was the last-known-good of the finished canary of ${running}; ` +
            `a rollback with no window: ${nodes.map((n) => n.container).join(", ")}, one at a time, each drained first`,
    );
    for (const n of nodes) {
        const failure = await roll(i, n, i.release);
        if (failure) {
            throw new Error(
                `the undo to ${i.release} stopped at ${n.container}: ${failure}. It stays drained; the other nodes serve. Run pulumi up again to retry it.`,
            );
        }
    }
    await writeRecord(i, { release: i.release, from: running, color: i.active, phase: "done", undo: true, reasons: [`undo of ${running} by config`] });
    const ms = Date.now() - started;
    await audit(auditTo(i.host, i.layout.stateDir, i.stack, i.broadcast, i.passEnv), {
        operation: "rollback",
        color: i.active,
        release: i.release,
        details: { kind: "undo", from: running, nodes: nodes.length, ms },
    });
    progress(`canary: undo: ${i.release} runs on every node of ${i.active} again in ${ms} ms (no window)`);
    return canaryOutputs(i, "done");
}

/** Rolls `i.release` out over the serving color's pools, from the last-known-good `from`, under the `rollout` verbs. */
export async function runCanary(i: CanaryInputs, from: string): Promise<CanaryOutputs> {
    const d = await decideUndo(i, from);
    if (d.kind === "undo") return undoCanary(i, from);
    if (d.why) progress(`canary: ${i.release} on ${i.active}: ${d.why}`);
    const run = new RolloutRun(
        { host: i.host, stateDir: i.layout.stateDir, audit: auditTo(i.host, i.layout.stateDir, i.stack, i.broadcast, i.passEnv) },
        { kind: "canary", release: i.release, from, color: i.active },
        i.canary.gateTimeoutSeconds ?? DEFAULT_GATE_TIMEOUT_SECONDS,
    );
    try {
        return await rollCanary(i, from, run);
    } finally {
        await run.close();
    }
}

async function rollCanary(i: CanaryInputs, from: string, run: RolloutRun): Promise<CanaryOutputs> {
    const planned = planCanary(i.prefix, i.active, i.components, i.canary.node);
    if (!planned.plan) throw refused(canaryPlanRefusal(planned.problems));
    const { canaries, peers } = planned.plan;
    const start: CanaryStart = canaryStart(await readRecord(i), i.active, i.release, i.stack);
    if (start.kind === "refuse") throw refused(`${start.why}. Nothing was touched.`);
    // Only now: a refused run leaves the last rollout's record (an abort's, for status) alone.
    await run.write({ step: "canary nodes" });
    const ctx = auditTo(i.host, i.layout.stateDir, i.stack, i.broadcast, i.passEnv);
    let lastPhase: string | undefined;
    const record = async (phase: CanaryRecord["phase"], extra: Partial<CanaryRecord> = {}) => {
        await writeRecord(i, { release: i.release, from, color: i.active, phase, ...extra });
        // One audit line per step, not per probe.
        if (phase !== lastPhase) {
            lastPhase = phase;
            await audit(ctx, {
                operation: "canary",
                color: i.active,
                release: i.release,
                details: { phase, from, ...(extra.reasons ? { reasons: extra.reasons.join("; ") } : {}) },
            });
        }
    };
    const hookAfterRollback = () =>
        runPostRollback({ ...i, stateDir: i.layout.stateDir }, { operation: "canary", color: i.active, release: from, failedRelease: i.release });

    if (start.kind !== "finishPeers") {
        if (start.kind === "fresh") await preflight(i, from);
        const url = await sliServer(i);
        await checkMetrics(i, url, start.kind === "fresh");
        await record("canary");
        progress(`canary: ${i.release} on ${canaries.map((n) => n.container).join(", ")} first (${from} is the last-known-good)`);
        for (const n of canaries) {
            const failure = await roll(i, n, i.release);
            if (failure) {
                const back = await rollBack(i, canaries, from);
                await record("rolledBack", { reasons: [failure] });
                const hook = await hookAfterRollback();
                throw new Error(
                    `canary of ${i.release} failed its node health check: ${failure}. ` +
                        (back.length === 0 ? `Every canary node is back on ${from} and serving. ` : `Rolling back also failed: ${back.join("; ")}. `) +
                        `Fix the release and set bluegreen:colors.${i.active}.release to it, or set it back to ${from}.` +
                        hook,
                );
            }
        }
        const resumed = start.kind === "resume" && start.startedAt !== undefined;
        const c = i.canary;
        const limits = { failureLimit: c.failureLimit ?? 0, inconclusiveLimit: c.inconclusiveLimit ?? 0 };
        const label = `canary ${i.release} on ${i.active}`;
        // The analysis from `startedAt`, on the run's clock: a verb ends or holds it (release/rollout/control.ts).
        const analysis = (startedAt: number, clock: Clock): AnalysisOptions => ({
            client: prometheusClient({ url }),
            queries: c.queries,
            selector: { color: i.active, release: i.release },
            thresholds: { p95Seconds: c.p95Seconds, errorRatio: c.errorRatio, minRequests: c.minRequests },
            windowSeconds: c.windowSeconds,
            probeIntervalSeconds: c.probeIntervalSeconds,
            lookbackSeconds: canaryLookback(i),
            label,
            startedAt,
            ...(c.metrics ? { metrics: c.metrics } : {}),
            limits,
            onProbe: async (p) => {
                const counts = describeCounts(p.counts, limits);
                await record("analysis", { startedAt, lastProbe: `${p.index}/${p.total} ${p.verdict} (${p.outcome}; ${counts})` });
                await run.probe(`${p.index}/${p.total} ${p.verdict}: ${describeProbe(p)} [${counts}]`);
            },
            clock,
        });
        let startedAt = resumed ? start.startedAt! : Date.now();
        // The load starts before the wait for scrapes: a counter needs two scrapes before increase() has data, and the first probe needs it.
        const judged = await withLoad(
            {
                spec: c.load,
                baseUrl: () => frontendBaseUrl(i.host, i.frontendPort),
                seconds: canaryLoadSeconds(i, resumed ? start.startedAt : undefined, Date.now()),
                label,
            },
            async () => {
                if (!resumed) {
                    await waitScraped(i, url, canaries.length + peers.length);
                    startedAt = Date.now();
                }
                await record("analysis", { startedAt });
                return run.window(
                    "canary window",
                    c.windowSeconds * 1000,
                    startedAt,
                    (s, clock) => runAnalysis(analysis(s, clock)),
                    (moved) => record("analysis", { startedAt: moved }),
                );
            },
        );
        if (judged.kind === "aborted") await abortCanary(i, run, canaries, from, judged.why, record, hookAfterRollback);
        const result = judged.kind === "judged" ? judged.result : undefined;
        if (result === undefined) progress(`canary: the rest of the window was skipped by \`rollout promote\`; rolling the peers`);
        if (result && result.verdict === "red") {
            if (c.onRed === "pause") {
                await drainServers(
                    haproxyChannel(i.host, i.layout, "admin"),
                    canaries.map((n) => ({ backend: n.backend, server: n.server })),
                ).catch(() => undefined);
                await saveServerState(i.host, i.layout).catch(() => undefined);
                await record("paused", { startedAt, reasons: result.reasons });
                await run.finish("rolledBack", "red window, canary nodes left drained (onRed: pause)");
                throw new Error(
                    `canary of ${i.release} is red and paused (bluegreen:canary.onRed: pause): ${result.reasons.join("; ")}. ` +
                        `The canary nodes (${canaries.map((n) => n.container).join(", ")}) stay drained on ${i.release}; their peers still run ${from}. ` +
                        `Run pulumi up again to judge it in a new window, or set bluegreen:colors.${i.active}.release back to ${from} to roll back.`,
                );
            }
            const back = await rollBack(i, canaries, from);
            await record("rolledBack", { startedAt, reasons: result.reasons });
            await run.finish("rolledBack", "red window");
            const hook = await hookAfterRollback();
            throw new Error(
                `canary of ${i.release} rolled back: ${result.reasons.join("; ")}. ` +
                    (back.length === 0
                        ? `Every canary node is back on ${from} and serving; every request is answered by ${from}. `
                        : `Rolling back also failed: ${back.join("; ")}. `) +
                    `Fix the release and set bluegreen:colors.${i.active}.release to it, or set it back to ${from}.` +
                    hook,
            );
        }
        if (result) progress(`canary: ${result.reasons.join("; ")}; rolling the peers`);
        if (c.promotion === "manual") {
            const gate = await run.gate("gate before the peers (bluegreen:canary.promotion: manual)");
            if (gate.kind === "aborted") await abortCanary(i, run, canaries, from, gate.why, record, hookAfterRollback);
        }
    }
    await record("peers");
    const rolled: PoolNode[] = [...canaries];
    for (const n of peers) {
        const go = await run.checkpoint(`the peers, before ${n.container}`);
        if (go.kind === "aborted") await abortCanary(i, run, rolled, from, go.why, record, hookAfterRollback);
        rolled.push(n);
        // Peers are not rolled back (seed 002: the canary already judged the release).
        const failure = await roll(i, n, i.release);
        if (failure) {
            // Still unfinished (a re-run retries it); status shows why it stopped.
            await record("peers", { reasons: [`stopped at ${n.container}: ${failure}`] });
            throw new Error(
                `the rollout of ${i.release} stopped at ${n.container}: ${failure}. It stays drained; the other nodes serve. ` +
                    `Peers are not rolled back automatically. Run pulumi up again to retry it, or set bluegreen:colors.${i.active}.release back to ${from}.`,
            );
        }
    }
    await record("done");
    await run.finish("done");
    progress(`canary: ${i.release} runs on every node of ${i.active}`);
    return canaryOutputs(i, "done");
}

/** Pure: a record of a rollout that stopped half-way: paused, or killed before its end. */
export function unfinished(r: CanaryRecord | undefined): boolean {
    return r !== undefined && (r.phase === "paused" || r.phase === "canary" || r.phase === "analysis" || r.phase === "peers");
}

/** True when the last rollout of this color stopped half-way and the config names another release (diff asks this). */
export async function needsConverge(i: CanaryInputs): Promise<boolean> {
    const r = await readRecord(i).catch(() => undefined);
    return unfinished(r) && r!.color === i.active && r!.release !== i.release;
}

/**
 * The config names a release again that a paused or interrupted rollout left behind (seed:
 * setting the old release rolls back): every node not on it, or left drained, is rolled
 * back to it, one at a time, and the record says so.
 */
export async function converge(i: CanaryInputs): Promise<CanaryOutputs> {
    const record = await readRecord(i);
    if (!unfinished(record) || record!.color !== i.active || record!.release === i.release) return canaryOutputs(i, "done");
    const planned = planCanary(i.prefix, i.active, i.components, i.canary.node);
    const nodes = planned.plan ? [...planned.plan.canaries, ...planned.plan.peers] : [];
    progress(`canary: ${record!.release} stopped in phase ${record!.phase}; the config names ${i.release} again, so every node goes back to it`);
    const failed = await rollBack(i, nodes, i.release);
    if (failed.length > 0) throw new Error(`rolling back to ${i.release} failed: ${failed.join("; ")}. Run pulumi up again to retry.`);
    await writeRecord(i, { ...record!, phase: "rolledBack", reasons: [...(record!.reasons ?? []), `rolled back to ${i.release} by config`] });
    return canaryOutputs(i, "done");
}

/** What a create does: the resource is new (a first up, or a lost state), so only the host and the nodes say where a rollout stands. */
export type CreateStart =
    | { readonly kind: "done" }
    | { readonly kind: "canary"; readonly from: string }
    | { readonly kind: "converge" }
    | { readonly kind: "refuse"; readonly why: string };

/**
 * Pure: a create never takes a half-done rollout for done. An unfinished record of this color
 * is resumed (or, when the config names its last-known-good, converged back, as an update
 * does); without one, nodes that disagree are rolled to the configured release from the one
 * other release they run. `live`: what each node runs, undefined for one that does not exist.
 */
export function createStart(record: CanaryRecord | undefined, live: readonly (string | undefined)[], color: Color, release: string): CreateStart {
    if (unfinished(record) && record!.color === color) {
        if (record!.release !== release && record!.from === release) return { kind: "converge" };
        return { kind: "canary", from: record!.from };
    }
    const running = [...new Set(live.filter((r): r is string => r !== undefined))].sort();
    const others = running.filter((r) => r !== release);
    if (others.length === 0) return { kind: "done" };
    if (others.length === 1) return { kind: "canary", from: others[0] };
    return {
        kind: "refuse",
        why:
            `the nodes of ${color} run ${running.join(", ")} and no canary record says which is the last-known-good, so a canary of ${release} has none to roll back to. ` +
            `Set bluegreen:colors.${color}.release to one of them: up then rolls the other nodes to it`,
    };
}

/** The create: resumes or converges what the host and the nodes say is unfinished; `done` only when it is. */
export async function createCanary(i: CanaryInputs): Promise<CanaryOutputs> {
    const nodes = i.components.flatMap((c) => poolNodes(i.prefix, i.active, c));
    const live = await Promise.all(nodes.map((n) => liveRelease(i, n)));
    const start = createStart(await readRecord(i), live, i.active, i.release);
    if (start.kind === "refuse") throw refused(`${start.why}. Nothing was touched.`);
    if (start.kind === "converge") return converge(i);
    if (start.kind === "canary") return runCanary(i, start.from);
    return canaryOutputs(i, "done");
}

/** Pure: the containers a canary of this color touches, by component (for the plan and status). */
export function canaryContainers(i: Pick<CanaryInputs, "prefix" | "active" | "components">): string[] {
    return i.components.flatMap((c) => nodesOf(c.nodes).map((n) => containerName(i.prefix, c.component, i.active, n)));
}
