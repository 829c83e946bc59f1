// The plan: the pure mapping from validated config to every resource's inputs.
// app.ts and colorStack.ts only wire these into resources.

import { ComponentConfig, DEFAULT_HEALTH_STATUS, StackConfig } from "./model/config";
import { DEFAULT_BALANCE } from "./model/edge/routing";
import {
    COLORS,
    Color,
    Node,
    containerName,
    haproxyBackendName,
    haproxyLayout,
    nodesOf,
    otherColor,
    serverName,
    statefulName,
    statefulVolumeName,
} from "./model/naming";
import { HaproxyHost, colorHostPort, haproxyHostOf as hostOf, haproxyInstanceRef, incusTarget, loopbackUrl } from "./model/traffic/topology";
import type { CanaryInputs } from "./release/rollout/canary";
import type { ServiceBackendModel } from "./model/traffic/haproxyConfig";
import type { ServingGuard } from "./release/cleanup";
import type { ColorContainerInputs } from "./release/deploy";
import type { HaproxyInputs } from "./release/traffic/haproxy";
import type { ScrapingInputs } from "./release/rollout/prometheus";
import { INSTANCE_PROMETHEUS_DIR, PrometheusInstance, prometheusServerUrl, scrapeTargets } from "./model/rollout/prometheusConfig";
import type { StatefulInputs } from "./release/stateful/stateful";
import type { SwitchComponent, SwitchInputs } from "./release/traffic/switch";
import type { AuditContext } from "./release/safety/audit";
import type { DeployLockInputs } from "./providers/lock";
import type { RetentionInputs } from "./release/safety/retention";
import type { HookContext, HookName, HookOperation } from "./model/safety/hooks";
import { lockPath } from "./model/safety/lock";
import { MaintenanceModel, maintenanceMapPath } from "./model/edge/maintenance";
import { accessLogPath, accessLogPort } from "./model/edge/accessLog";
import type { MaintenanceInputs } from "./release/edge/maintenance";
import type { Place, StackPlacement } from "./model/cluster/placement";
import type { EdgeModel } from "./model/edge/listen";
import { certificatePath } from "./model/edge/tls";
import type { CertificatesInputs } from "./release/edge/tls";
import type { AcmeInputs } from "./release/edge/acme";
import { ACME_CERTIFICATE, challengeMapPath } from "./model/edge/acme";

/** Pure: the machine HAProxy runs on for this stack. */
export function haproxyHostOf(config: StackConfig): HaproxyHost {
    return hostOf(config.haproxy.placement, config.prefix, config.incus.remote);
}

function layoutOf(config: StackConfig) {
    return haproxyLayout(config.haproxy.placement, config.app, config.stack, config.haproxy.dir);
}

/** Pure: where the live active color is read from before a color's containers are deleted. */
export function servingGuard(config: StackConfig): ServingGuard {
    const layout = layoutOf(config);
    const assume = config.cleanup.assumeActive;
    return { host: haproxyHostOf(config), stateDir: layout.stateDir, adminSocket: layout.hostAdminSocket, ...(assume ? { assumeActive: assume } : {}) };
}

/**
 * Pure: a component's health expectation, carried only when it is not the default, so
 * the inputs of stacks written before these settings existed do not change.
 */
export function healthInputs(c: ComponentConfig): { healthStatus?: string; healthBody?: string } {
    return { ...(c.healthStatus !== DEFAULT_HEALTH_STATUS ? { healthStatus: c.healthStatus } : {}), ...(c.healthBody ? { healthBody: c.healthBody } : {}) };
}

/** Pure: a component's backend choices, carried only when not the default (as healthInputs). */
export function edgeInputs(c: ComponentConfig): { hosts?: readonly string[]; balance?: string; haproxy?: readonly string[] } {
    return {
        ...(c.hosts?.length ? { hosts: c.hosts } : {}),
        ...(c.balance && c.balance !== DEFAULT_BALANCE ? { balance: c.balance } : {}),
        ...(c.haproxy?.length ? { haproxy: c.haproxy } : {}),
    };
}

/** Pure: the HAProxy resource's inputs; with a placement, its member and routed address. */
export function haproxyInputs(config: StackConfig, placement?: StackPlacement): HaproxyInputs {
    const host = haproxyHostOf(config);
    const { address, ...place } = placeOf(placement?.haproxy, config);
    return {
        stack: config.stack,
        host,
        layout: layoutOf(config),
        frontendPort: config.haproxy.frontendPort,
        exporterPort: config.haproxy.exporterPort,
        // Both colors' ports, present or not, so adding a color never touches the instance.
        // Routed: HAProxy reaches each node on its own address, through no device.
        backendPorts:
            host.placement === "incus" && !address
                ? [
                      ...config.components.flatMap((c) => nodesOf(c.nodes).flatMap((node) => COLORS.map((color) => colorHostPort(c.hostPort, color, node)))),
                      // With a remote, every stateful service too: its health is probed from inside the instance.
                      ...(config.incus.remote ? config.stateful.map((s) => s.hostPort) : routedServices(config).map((s) => s.port)),
                  ]
                : [],
        image: config.incus.image,
        profiles: config.incus.profiles,
        ...place,
        ...(address ? { routedAddress: address } : {}),
        ...(host.placement === "incus" && config.haproxy.listen ? { listen: config.haproxy.listen } : {}),
        ...(config.accessLog
            ? {
                  accessLog: {
                      port: accessLogPort(config.accessLog, config.haproxy.frontendPort),
                      file: accessLogPath(layoutOf(config)),
                      maxBytes: config.accessLog.maxBytes,
                      keep: config.accessLog.keep,
                  },
              }
            : {}),
    };
}

/** Pure: bluegreen:haproxy.listen as the switch renders it; undefined when unset, so other stacks keep their inputs. */
export function edgeOf(config: StackConfig): EdgeModel | undefined {
    if (!config.haproxy.listen) return undefined;
    const layout = layoutOf(config);
    return {
        listen: config.haproxy.listen,
        proxyProtocol: config.haproxy.placement === "incus",
        certificates: [...(config.tlsCertificates ?? []), ...(config.acme ? [ACME_CERTIFICATE] : [])].map((n) => certificatePath(layout, n)),
        ...(config.acme ? { challengeMap: challengeMapPath(layout) } : {}),
    };
}

/** Pure: the Certificates resource's inputs but the bundles (a secret the app adds); undefined without bluegreen:tls.certificates. */
export function certificatesInputs(config: StackConfig): Omit<CertificatesInputs, "certificates"> | undefined {
    if (!config.tlsCertificates?.length && !config.acme) return undefined;
    return { stack: config.stack, host: haproxyHostOf(config), layout: layoutOf(config), ...(config.acme ? { acmeDomains: config.acme.domains } : {}) };
}

/** Pure: the AcmeCertificate resource's inputs; undefined without bluegreen:tls.acme. */
export function acmeInputs(config: StackConfig): AcmeInputs | undefined {
    if (!config.acme) return undefined;
    return { stack: config.stack, host: haproxyHostOf(config), layout: layoutOf(config), acme: config.acme };
}

/** Pure: the stateful services HAProxy routes to, as the switch renders them. */
export function routedServices(config: StackConfig, placement?: StackPlacement): ServiceBackendModel[] {
    return config.stateful.flatMap((s) =>
        s.route
            ? [
                  {
                      service: s.name,
                      route: s.route,
                      healthPath: s.healthPath,
                      healthStatus: s.healthStatus,
                      ...(s.healthBody ? { healthBody: s.healthBody } : {}),
                      ...routedAt(placement?.stateful[statefulName(config.prefix, s.name)], s.port, s.hostPort),
                  },
              ]
            : [],
    );
}

/** Pure: a server's `port` (and routed `address`): the app's port on its address when it has one, else its loopback port. */
function routedAt(p: Place | undefined, port: number, hostPort: number): { port: number; address?: string } {
    return p?.address ? { port, address: p.address } : { port: hostPort };
}

/** Pure: with routed addresses, each node's of both colors (node order), reached at the app's port. */
function routedOf(config: StackConfig, c: ComponentConfig, placement?: StackPlacement): Pick<SwitchComponent, "routed"> {
    const of = (color: Color) => nodesOf(c.nodes).map((node) => placement?.containers[containerName(config.prefix, c.name, color, node)]?.address);
    const addresses = { blue: of("blue"), green: of("green") };
    if (![...addresses.blue, ...addresses.green].every((a) => a !== undefined)) return {};
    return { routed: { port: c.port, addresses: addresses as Record<Color, string[]> } };
}

/** Pure: the switch's inputs. Removing the inactive color leaves them unchanged. */
/** Pure: the active color's nodes on a member that is not online; absent when none (the inputs stay as they were). */
function waitingOf(config: StackConfig, placement?: StackPlacement): { waiting?: string[] } {
    const waiting = (placement?.pools ?? [])
        .filter((p) => p.color === config.active)
        .flatMap((p) => p.nodes.filter((n) => n.offline).map((n) => containerName(config.prefix, p.component, p.color, n.node)));
    return waiting.length ? { waiting } : {};
}

/** Pure: bluegreen:incus.drain's servers, `backend/server`; absent when none (the inputs stay as they were). */
function drainedOf(config: StackConfig, placement?: StackPlacement): { drained?: string[] } {
    const drained = (placement?.pools ?? []).flatMap((p) =>
        p.nodes
            .filter((n) => placement!.drained.includes(containerName(config.prefix, p.component, p.color, n.node)))
            .map((n) => `${haproxyBackendName(p.component)}/${serverName(p.color, n.node)}`),
    );
    return drained.length ? { drained } : {};
}

export function switchInputs(config: StackConfig, placement?: StackPlacement): SwitchInputs {
    return {
        stack: config.stack,
        host: haproxyHostOf(config),
        layout: layoutOf(config),
        method: config.haproxy.switchMethod,
        active: config.active,
        release: config.colors[config.active]!.release,
        frontendPort: config.haproxy.frontendPort,
        exporterPort: config.haproxy.exporterPort,
        extra: config.haproxy.extra,
        ...(edgeOf(config) ? { edge: edgeOf(config) } : {}),
        ...(config.preview ? { preview: config.preview } : {}),
        ...(config.preview && config.colors[otherColor(config.active)] ? { previewRelease: config.colors[otherColor(config.active)]!.release } : {}),
        components: config.components.map((c) => ({
            name: c.name,
            route: c.route,
            healthPath: c.healthPath,
            ports: { blue: colorHostPort(c.hostPort, "blue"), green: colorHostPort(c.hostPort, "green") },
            container: containerName(config.prefix, c.name, config.active),
            ...(c.nodes > 1 ? { nodes: c.nodes } : {}),
            ...healthInputs(c),
            ...routedOf(config, c, placement),
            ...edgeInputs(c),
        })),
        ...(routedServices(config).length ? { services: routedServices(config, placement) } : {}),
        ...waitingOf(config, placement),
        ...drainedOf(config, placement),
        ...incusTarget(config.incus.remote),
        ...(config.incus.remote && config.stateful.length ? { probePorts: config.stateful.map((s) => s.hostPort) } : {}),
        ...broadcastOf(config),
        ...(config.progressive
            ? {
                  progressive: {
                      ...config.progressive,
                      // With a remote, its address is resolved when the shift runs (release/rollout/shift.ts).
                      ...(config.incus.remote && !config.prometheus!.url
                          ? { prometheusPort: config.prometheus!.port }
                          : { prometheusUrl: config.prometheus!.url ?? prometheusServerUrl(config.prometheus!.port) }),
                      scrapeIntervalSeconds: config.prometheus!.scrapeIntervalSeconds,
                  },
              }
            : {}),
        ...(config.switchGate ? { gate: config.switchGate } : {}),
        ...maintenanceModelOf(config),
        ...(config.accessLog ? { accessLogPort: accessLogPort(config.accessLog, config.haproxy.frontendPort) } : {}),
        ...(config.progressive?.sticky || config.canary?.sticky ? { sticky: true } : {}),
        timeoutMs: config.health.timeoutMs,
        settleMs: config.haproxy.settleMs,
    };
}

/** Pure: the maintenance rule the switch renders; nothing while bluegreen:maintenance is unset. */
function maintenanceModelOf(config: StackConfig): { maintenance?: MaintenanceModel } {
    const m = config.maintenance;
    if (!m) return {};
    return { maintenance: { mapFile: maintenanceMapPath(layoutOf(config)), message: m.message, retryAfterSeconds: m.retryAfterSeconds, allow: m.allow } };
}

/** Pure: the Maintenance resource's inputs; undefined while bluegreen:maintenance is unset. */
export function maintenanceInputs(config: StackConfig): MaintenanceInputs | undefined {
    const m = config.maintenance;
    if (!m) return undefined;
    return {
        stack: config.stack,
        host: haproxyHostOf(config),
        layout: layoutOf(config),
        mapFile: maintenanceMapPath(layoutOf(config)),
        enabled: m.enabled,
        allow: m.allow,
        ...broadcastOf(config),
    };
}

/** Pure: the inputs of every container of `color`, one per node of each component. */
export function colorContainerInputs(
    config: StackConfig,
    color: Color,
    release: string,
    guard: ServingGuard,
    placement?: StackPlacement,
): ColorContainerInputs[] {
    // With a canary, the serving color's releases are installed in place (release/rollout/canary.ts).
    const inPlace = config.canary !== undefined && color === config.active;
    return config.components.flatMap((c) =>
        nodesOf(c.nodes).map((node) => ({
            ...containerInputs(config, c, color, node, release, guard),
            ...(inPlace ? { inPlace: true } : {}),
            ...placeOf(placement?.containers[containerName(config.prefix, c.name, color, node)], config),
        })),
    );
}

/** Pure: where the Prometheus the program runs (and the scrape targets) live: on this host, beside the stack's files. */
export function prometheusDir(config: StackConfig): string {
    if (config.prometheus?.placement === "incus") return INSTANCE_PROMETHEUS_DIR;
    return config.haproxy.placement === "host" ? `${layoutOf(config).stateDir}/prometheus` : `/var/lib/${config.app}/${config.stack}/prometheus`;
}

/** Pure: with prometheus.placement: incus, the HAProxy instance it runs in; nothing otherwise, so host inputs are as before. */
export function prometheusInstanceOf(config: StackConfig): { instance?: PrometheusInstance } {
    const host = haproxyHostOf(config);
    if (config.prometheus?.placement !== "incus" || host.placement !== "incus") return {};
    return { instance: { name: host.instance, ...(host.remote ? { remote: host.remote } : {}) } };
}

/** Pure: what Prometheus scrapes; undefined without bluegreen:prometheus (or a canary, which implies it). */
export function prometheusInputs(config: StackConfig, placement?: StackPlacement): ScrapingInputs | undefined {
    const prom = config.prometheus;
    if (!prom) return undefined;
    const colors = COLORS.filter((c) => config.colors[c] !== undefined);
    return {
        dir: prometheusDir(config),
        port: prom.port,
        scrapeIntervalSeconds: prom.scrapeIntervalSeconds,
        haproxyExporterPort: config.haproxy.exporterPort,
        ...(prom.url ? { url: prom.url } : {}),
        ...prometheusInstanceOf(config),
        targets: scrapeTargets(
            config.components.map((c) => ({ component: c.name, nodes: c.nodes, hostPort: c.hostPort, ...routedOf(config, c, placement) })),
            colors,
        ),
    };
}

/** Pure: the Canary's inputs; undefined without bluegreen:canary. */
export function canaryInputs(config: StackConfig, placement?: StackPlacement): CanaryInputs | undefined {
    if (!config.canary) return undefined;
    const prom = config.prometheus!;
    return {
        stack: config.stack,
        prefix: config.prefix,
        active: config.active,
        release: config.colors[config.active]!.release,
        components: config.components.map((c) => ({
            component: c.name,
            nodes: c.nodes,
            hostPort: c.hostPort,
            healthPath: c.healthPath,
            route: c.route,
            ...(c.hosts?.length ? { hosts: c.hosts } : {}),
            ...healthInputs(c),
            ...routedOf(config, c, placement),
        })),
        canary: config.canary,
        frontendPort: config.haproxy.frontendPort,
        prometheus: {
            ...(prom.url ? { url: prom.url } : {}),
            dir: prometheusDir(config),
            port: prom.port,
            scrapeIntervalSeconds: prom.scrapeIntervalSeconds,
            ...prometheusInstanceOf(config),
        },
        host: haproxyHostOf(config),
        layout: layoutOf(config),
        exporterPort: config.haproxy.exporterPort,
        artifacts: config.artifacts,
        migrationsForce: config.migrations.force,
        migrationsBlock: config.migrations.block,
        health: config.health,
        ...incusTarget(config.incus.remote),
        settleMs: config.haproxy.settleMs,
        ...broadcastOf(config),
        ...postRollbackOf(config),
    };
}

function containerInputs(config: StackConfig, c: ComponentConfig, color: Color, node: Node, release: string, guard: ServingGuard): ColorContainerInputs {
    return {
        name: containerName(config.prefix, c.name, color, node),
        stack: config.stack,
        component: c.name,
        color,
        ...(node === undefined ? {} : { node }),
        release,
        port: c.port,
        hostPort: colorHostPort(c.hostPort, color, node),
        healthPath: c.healthPath,
        ...healthInputs(c),
        ...(Object.keys(c.env).length > 0 ? { env: c.env } : {}),
        image: config.incus.image,
        profiles: config.incus.profiles,
        ...incusTarget(config.incus.remote),
        ...(config.incus.parallel === undefined ? {} : { incusParallel: config.incus.parallel }),
        artifacts: config.artifacts,
        health: config.health,
        guard,
        ...migrationsOf(config, color),
        ...broadcastOf(config),
    };
}

/** Pure: a place's member and address (with the routed NIC's parent), only those set, so stacks without placement keep their inputs. */
function placeOf(p: Place | undefined, config: StackConfig): Place & { parent?: string } {
    return {
        ...(p?.member ? { member: p.member } : {}),
        ...(p?.address && config.network ? { address: p.address, parent: config.network.parent } : {}),
    };
}

/** Pure: the blue/green rollout's migration guard: against the release the other color runs. */
function migrationsOf(config: StackConfig, color: Color): Pick<ColorContainerInputs, "migrations"> {
    const running = config.colors[otherColor(color)]?.release;
    return running ? { migrations: { running, force: config.migrations.force, block: config.migrations.block } } : {};
}

/** Pure: bluegreen:broadcast, carried only when set, so stacks without it keep their inputs. */
function broadcastOf(config: StackConfig): { broadcast?: string; passEnv?: readonly string[] } {
    return config.broadcast ? { broadcast: config.broadcast, ...passEnvOf(config) } : {};
}

/** Pure: the postRollback hook for the providers that roll back by themselves; only when set. */
function postRollbackOf(config: StackConfig): { postRollback?: string; passEnv?: readonly string[] } {
    return config.hooks.postRollback ? { postRollback: config.hooks.postRollback, ...passEnvOf(config) } : {};
}

/** Pure: bluegreen:hooks.passEnv, only when it names something. */
function passEnvOf(config: StackConfig): { passEnv?: readonly string[] } {
    return config.hooks.passEnv?.length ? { passEnv: config.hooks.passEnv } : {};
}

/** Pure: where the stack's audit events go (release/safety/audit.ts). */
export function auditContext(config: StackConfig): AuditContext {
    return {
        host: haproxyHostOf(config),
        stateDir: layoutOf(config).stateDir,
        stack: config.stack,
        ...broadcastOf(config),
    };
}

/**
 * Pure: the deploy lock's inputs. The release is only what the record tells whoever meets it.
 * What finds a lost state (release/stateful/adoption.ts) is carried only when set, so older state keeps its inputs.
 */
export function lockInputs(config: StackConfig, mode: DeployLockInputs["mode"], adoptOnce: boolean): DeployLockInputs {
    const volumes = config.stateful.flatMap((s) => s.volumes.map((v) => ({ pool: s.pool, volume: statefulVolumeName(config.prefix, s.name, v.name) })));
    const adopt = config.adopt ? "config" : adoptOnce ? "env" : undefined;
    return {
        ...auditContext(config),
        release: config.colors[config.active]!.release,
        mode,
        ...incusTarget(config.incus.remote),
        ...(volumes.length > 0 ? { volumes } : {}),
        ...(adopt ? { adopt } : {}),
    };
}

/** Pure: what a hook of `color` gets before it runs (model/safety/hooks.ts's script adds the rest). */
export function hookContext(config: StackConfig, hook: HookName, color: Color): HookContext {
    const instance = haproxyInstanceRef(haproxyHostOf(config));
    const operation: HookOperation = hook === "preDeploy" || hook === "postDeploy" ? "deploy" : hook === "postRollback" ? "rollback" : "switch";
    return {
        hook,
        stack: config.stack,
        operation,
        color,
        release: config.colors[color]!.release,
        ...(hook === "preSwitch" || hook === "postSwitch" ? { active: config.active } : {}),
        lockFile: lockPath(layoutOf(config).stateDir),
        ...(instance ? { lockInstance: instance } : {}),
        ...passEnvOf(config),
    };
}

/** Pure: the Retention resource's inputs; undefined without bluegreen:retain. */
export function retentionInputs(config: StackConfig, mode: RetentionInputs["mode"]): RetentionInputs | undefined {
    if (!config.retain) return undefined;
    const inUse = [...Object.values(config.colors).map((c) => c!.release), ...config.stateful.map((s) => s.release)];
    return {
        ...auditContext(config),
        mode,
        keep: config.retain.releases,
        artifacts: config.artifacts,
        components: [...config.components.map((c) => c.name), ...config.stateful.map((s) => s.name)],
        inUse: [...new Set(inUse)].sort(),
        services: config.stateful.map((s) => s.name),
    };
}

/** Pure: the stack's frontend URL; on `address` (a remote's) when given. */
export function frontendUrl(config: StackConfig, address?: string): string {
    return address ? `http://${address}:${config.haproxy.frontendPort}/` : loopbackUrl(config.haproxy.frontendPort);
}

/** Pure: one StatefulService's inputs per bluegreen:stateful entry, sorted by name. */
export function statefulInputs(config: StackConfig, placement?: StackPlacement): StatefulInputs[] {
    const layout = layoutOf(config);
    return config.stateful.map((s) => ({
        name: statefulName(config.prefix, s.name),
        stack: config.stack,
        service: s.name,
        release: s.release,
        port: s.port,
        hostPort: s.hostPort,
        healthPath: s.healthPath,
        ...(s.healthStatus !== DEFAULT_HEALTH_STATUS ? { healthStatus: s.healthStatus } : {}),
        ...(s.healthBody ? { healthBody: s.healthBody } : {}),
        ...(Object.keys(s.env).length ? { env: s.env } : {}),
        volumes: s.volumes.map((v) => ({ name: v.name, volume: statefulVolumeName(config.prefix, s.name, v.name), path: v.path })),
        pool: s.pool,
        deleteVolumes: s.deleteVolumes,
        ...(s.restore ? { restore: s.restore } : {}),
        image: config.incus.image,
        profiles: config.incus.profiles,
        ...incusTarget(config.incus.remote),
        artifacts: config.artifacts,
        health: config.health,
        host: haproxyHostOf(config),
        stateDir: layout.stateDir,
        ...broadcastOf(config),
        ...postRollbackOf(config),
        ...placeOf(placement?.stateful[statefulName(config.prefix, s.name)], config),
    }));
}
