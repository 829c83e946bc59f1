// The Prometheus the program runs on the dev host: its files, its config, and the
// file_sd target list that also feeds an operator's own server (staging/prod). Pure.

import YAML from "yaml";
import { Color, nodesOf } from "../naming";
import { colorHostPort, loopbackAddress } from "../traffic/topology";

/** Where one stack's Prometheus keeps its files, under one directory (the caller's `/var/lib/<app>/<stack>/prometheus`). */
export interface PrometheusLayout {
    readonly dir: string;
    readonly configFile: string;
    readonly dataDir: string;
    /** file_sd reads every `*.json` here. */
    readonly targetsDir: string;
    /** The one target file bluegreen writes. */
    readonly targetsFile: string;
    readonly pidFile: string;
    readonly logFile: string;
}

export function prometheusLayout(dir: string): PrometheusLayout {
    const d = dir.replace(/\/+$/, "");
    return {
        dir: d,
        configFile: `${d}/prometheus.yml`,
        dataDir: `${d}/data`,
        targetsDir: `${d}/targets`,
        targetsFile: `${d}/targets/bluegreen.json`,
        pidFile: `${d}/prometheus.pid`,
        logFile: `${d}/prometheus.log`,
    };
}

/** The file_sd job's name; `job="bluegreen-app"` in every app series. */
export const APP_JOB = "bluegreen-app";
export const HAPROXY_JOB = "bluegreen-haproxy";

/** file_sd checks its files at least this often; changes normally arrive at once through inotify. */
export const FILE_SD_REFRESH_SECONDS = 5;

export interface PrometheusConfigInput {
    readonly layout: PrometheusLayout;
    readonly scrapeIntervalSeconds: number;
    /** HAProxy's exporter (`http-request use-service prometheus-exporter`), on loopback at /metrics. */
    readonly haproxyExporterPort: number;
}

/** Pure: prometheus.yml. Prometheus refuses a scrape timeout longer than the interval, so it is min(10 s, interval). */
export function renderPrometheusConfig(i: PrometheusConfigInput): string {
    const interval = `${i.scrapeIntervalSeconds}s`;
    const config = {
        global: {
            scrape_interval: interval,
            scrape_timeout: `${Math.min(10, i.scrapeIntervalSeconds)}s`,
            evaluation_interval: interval,
        },
        scrape_configs: [
            {
                job_name: APP_JOB,
                metrics_path: "/metrics",
                file_sd_configs: [{ files: [`${i.layout.targetsDir}/*.json`], refresh_interval: `${FILE_SD_REFRESH_SECONDS}s` }],
            },
            {
                job_name: HAPROXY_JOB,
                metrics_path: "/metrics",
                static_configs: [{ targets: [loopbackAddress(i.haproxyExporterPort)] }],
            },
        ],
    };
    return "# Written by bluegreen; changes are overwritten. Targets: " + i.layout.targetsDir + "/*.json\n" + YAML.stringify(config);
}

/** One app container Prometheus scrapes: its metrics on this host's loopback, or on its routed address. */
export interface ScrapeTarget {
    readonly component: string;
    readonly color: string;
    /** Which of the component's containers (the canary is one node). */
    readonly node: string | number;
    /** Host loopback port that reaches the container's app (its proxy device); with `address`, the app's own port. */
    readonly port: number;
    /** A routed node's address (Prometheus runs in the HAProxy instance, on the same network). */
    readonly address?: string;
}

/** Pure: every node of every pool of the colors present, as scrape targets: the targets follow the pools. */
export function scrapeTargets(
    components: readonly {
        readonly component: string;
        readonly nodes: number;
        readonly hostPort: number;
        /** Routed: each node's address per color (node order), reached at the app's `port`. */
        readonly routed?: { readonly port: number; readonly addresses: Readonly<Record<Color, readonly string[]>> };
    }[],
    colors: readonly Color[],
): ScrapeTarget[] {
    return components.flatMap((c) =>
        colors.flatMap((color) =>
            nodesOf(c.nodes).map((node, k) => {
                const at = c.routed ? { port: c.routed.port, address: c.routed.addresses[color][k] } : { port: colorHostPort(c.hostPort, color, node) };
                return { component: c.component, color, node: node ?? 1, ...at };
            }),
        ),
    );
}

/** Pure: where Prometheus reaches a target. */
function endpointOf(t: ScrapeTarget): string {
    return t.address ? `${t.address}:${t.port}` : loopbackAddress(t.port);
}

/**
 * Pure: the file_sd JSON. The labels are target labels, so they win over labels of the
 * same name the app exposes (those become `exported_component`, ...): a selector on
 * `component`, `color` and `node` always means the container bluegreen says it is.
 * Sorted, so the same targets always give the same bytes.
 */
export function renderTargets(targets: readonly ScrapeTarget[]): string {
    const seen = new Map<string, ScrapeTarget>();
    for (const t of targets) {
        const other = seen.get(endpointOf(t));
        if (other) throw new Error(`scrape targets ${describeTarget(other)} and ${describeTarget(t)} share ${t.address ? endpointOf(t) : `port ${t.port}`}`);
        seen.set(endpointOf(t), t);
    }
    const groups = [...targets]
        .map((t) => ({ targets: [endpointOf(t)], labels: { component: t.component, color: t.color, node: String(t.node) } }))
        .sort((a, b) => a.targets[0].localeCompare(b.targets[0]) || JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
    return JSON.stringify(groups, null, 2) + "\n";
}

function describeTarget(t: ScrapeTarget): string {
    return `${t.component}/${t.color}/node ${t.node}`;
}

// prometheus.placement: incus. Prometheus runs inside the stack's HAProxy instance, where
// the apps' ports (its `be-<port>` devices) and HAProxy's exporter are on loopback, so the
// scrape config and targets are the same as on this host. The program reaches its API
// through the instance's `prometheus` proxy device.

/** Its files inside the instance; the data dir survives a restart of the process. */
export const INSTANCE_PROMETHEUS_DIR = "/opt/bluegreen/prometheus";
/** The host's binary, pushed into the instance (the base image has none). */
export const INSTANCE_PROMETHEUS_BIN = `${INSTANCE_PROMETHEUS_DIR}/bin/prometheus`;
/** The sha256 of the binary pushed; written last, so a push cut short is redone. */
export const INSTANCE_PROMETHEUS_BIN_SUM = `${INSTANCE_PROMETHEUS_BIN}.sha256`;
/** The argv it was started with, written after a start: other flags (a new port) mean a restart. */
export const INSTANCE_PROMETHEUS_ARGV = `${INSTANCE_PROMETHEUS_DIR}/prometheus.argv`;
/** The HAProxy instance Prometheus runs in. */
export interface PrometheusInstance {
    readonly name: string;
    readonly remote?: string;
}

/** The proxy device on the HAProxy instance; the HAProxy resource leaves it alone. */
export const PROMETHEUS_DEVICE = "prometheus";

/**
 * Where the program reaches the in-instance Prometheus: its proxy device's listen address
 * on the Incus host; with a remote, that remote's own `address` (as the frontend), since the
 * program runs away from it and its loopback is not ours.
 */
export function prometheusListenAddress(port: number, address?: string): string {
    return address ? `${address}:${port}` : loopbackAddress(port);
}

/** The URL SLI queries go to, for the server the program runs (on this host or in the instance). */
export function prometheusServerUrl(port: number, address?: string): string {
    return `http://${prometheusListenAddress(port, address)}`;
}

/** The `prometheus` proxy device as Incus stores it: the host's listener to the instance's loopback. */
export function prometheusDevice(port: number, address?: string): Record<string, string> {
    return { type: "proxy", listen: `tcp:${prometheusListenAddress(port, address)}`, connect: `tcp:${loopbackAddress(port)}` };
}

/** Pure: the argv Prometheus runs with inside the instance (no --web.enable-lifecycle: SIGHUP reloads). */
export function instancePrometheusArgv(port: number): string[] {
    const layout = prometheusLayout(INSTANCE_PROMETHEUS_DIR);
    return [INSTANCE_PROMETHEUS_BIN, "--config.file", layout.configFile, "--storage.tsdb.path", layout.dataDir, "--web.listen-address", loopbackAddress(port)];
}

/** Pure: removes the partial pushes (`.<name>.<random>.part`) of the binary that a killed run left. */
export function partsSweepArgv(): string[] {
    // From /opt/bluegreen, which the HAProxy start script's push made: bin/ may not exist yet.
    return ["find", "/opt/bluegreen", "-maxdepth", "3", "-path", `${INSTANCE_PROMETHEUS_DIR}/bin/.*.part`, "-delete"];
}

/**
 * Pure: start-stop-daemon (dpkg's, in the image) argv inside the instance. It matches the
 * process by pid file and executable, so a pid reused by another process is never ours,
 * and it daemonizes, so the process outlives the `incus exec` that started it.
 */
export function ssdArgv(action: "start" | "status" | "reload" | "stop", port = 0): string[] {
    const layout = prometheusLayout(INSTANCE_PROMETHEUS_DIR);
    const match = ["--pidfile", layout.pidFile, "--exec", INSTANCE_PROMETHEUS_BIN];
    switch (action) {
        case "start": {
            const [, ...args] = instancePrometheusArgv(port);
            return [
                "start-stop-daemon",
                "--start",
                "--background",
                "--make-pidfile",
                ...match,
                "--chdir",
                layout.dir,
                "--output",
                layout.logFile,
                "--",
                ...args,
            ];
        }
        case "status":
            // Exit 0: running; 1 or 3: not.
            return ["start-stop-daemon", "--status", ...match];
        case "reload":
            return ["start-stop-daemon", "--stop", "--signal", "HUP", ...match];
        case "stop":
            return ["start-stop-daemon", "--stop", "--oknodo", "--retry", "TERM/10/KILL/2", "--remove-pidfile", ...match];
    }
}
