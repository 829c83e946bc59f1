// Stack config, validated once with zod before anything is touched.
// Every error names its full key path, e.g. `bluegreen:colors.green.release: expected 7-40 hex characters`.

import { z } from "zod";
import { COLORS, Color, containerName, haproxyInstanceName, nodesOf, otherColor, routePrefix, statefulName, statefulVolumeName } from "./naming";
import { colorOfServer } from "./traffic/traffic";
import { colorHostPort, lastHostPort } from "./traffic/topology";
import { DEFAULT_QUERIES, templateProblems } from "./rollout/promql";
import { LoadSpec, loadHeaderProblems } from "./rollout/load";
import { WARNING_RULES, WarningRule } from "./stateful/migrations";
import { addressesNeeded, formatRange, parseAddressRange, rangeSize } from "./cluster/network";
import { IncusTrust, TRUST_KEYS, trustSpec } from "./cluster/trust";
import { listenProblems, listenSpec } from "./edge/listen";
import { CERTIFICATES_KEY, parseCertificates } from "./edge/tls";
import { MaintenanceSpec, maintenanceSpec } from "./edge/maintenance";
import { stickySpec } from "./edge/sticky";
import { AccessLogSpec, accessLogPort, accessLogSpec } from "./edge/accessLog";
import { balanceSpec, describeRoute, hostsSpec, isHashBalance, routeKey } from "./edge/routing";
import { PreviewSpec, previewSpec } from "./edge/preview";
import { AcmeConfig, acmeProblems, acmeSpec } from "./edge/acme";

export const NAMESPACE = "bluegreen";

const SAFE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const safeName = z.string().regex(SAFE_NAME, "expected lowercase letters, digits and single inner hyphens, starting with a letter");
const release = z
    .string("expected 7-40 hex characters as a string (quote a SHA made only of digits)")
    .regex(/^[0-9a-fA-F]{7,40}$/, "expected 7-40 hex characters")
    .transform((s) => s.toLowerCase());
const port = z.int("expected an integer port").min(1, "expected a port from 1 to 65535").max(65535, "expected a port from 1 to 65535");
const urlPath = z.string().regex(/^(?!.*\/\/)\/[A-Za-z0-9._~/-]*$/, "expected an absolute URL path of letters, digits and ._~/- without empty segments");
const absPath = z.string().regex(/^\/[A-Za-z0-9._/-]*$/, "expected an absolute path of letters, digits and ._/-");
/** One line of raw HAProxy config: an operator escape hatch, but never a second line. */
const haproxyLine = z.string().regex(/^[^\r\n\0#]+$/, "expected one HAProxy config line without newlines or '#'");

const colorSpec = z.strictObject({ release });

/** HTTP statuses as HAProxy's `http-check expect status` reads them: `200`, `200-299`, `200-299,304`. */
const STATUS_LIST = /^[1-5]\d\d(-[1-5]\d\d)?(,[1-5]\d\d(-[1-5]\d\d)?)*$/;
const statusList = z
    .string()
    .regex(STATUS_LIST, "expected statuses like 200, 200-299 or 200-299,304")
    .refine((s) => !STATUS_LIST.test(s) || s.split(",").every((r) => Number(r.split("-")[0]) <= Number(r.split("-")[1] ?? r)), "expected each range low-high");
/** Text the health body must contain; one word HAProxy's `http-check expect string` takes as is. */
const bodyMatch = z.string().regex(/^[A-Za-z0-9._:/=+,;@%-]{1,200}$/, "expected up to 200 letters, digits or ._:/=+,;@%- (no spaces or quotes)");
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "expected an environment variable name: capitals, digits and _");
/** Values reach the app's environment as they are; one line each. */
const envValue = z.string().regex(/^[^\n\r\0]*$/, "expected a value on one line (no newline or NUL)");
const envMap = z.record(envName, envValue);

export const DEFAULT_HEALTH_STATUS = "200-299";

/** Nodes per color of one component: each takes two loopback ports and a container. */
export const MAX_NODES = 16;

const componentSpec = z.strictObject({
    /** Port the app listens on inside its container. */
    port: port.default(8080),
    /** Loopback port on the Incus host for blue; green gets `hostPort + 1`, node n of a pool `hostPort + 2n` and the next. */
    hostPort: port,
    /** Containers per color, balanced by HAProxy. More than one allows a canary of one node. */
    nodes: z.int("expected a whole number of nodes").min(1, "expected at least 1 node").max(MAX_NODES, `expected at most ${MAX_NODES} nodes`).default(1),
    /** Path prefix HAProxy routes to this component; "/" is the default backend. */
    route: urlPath,
    healthPath: urlPath.default("/health"),
    /** What a healthy answer to healthPath is: these statuses, and the body containing healthBody. */
    healthStatus: statusList.default(DEFAULT_HEALTH_STATUS),
    healthBody: bodyMatch.optional(),
    /** Plain environment of the app; secrets go in bluegreen:secretEnv. */
    env: envMap.default({}),
    /** On a cluster: node n on member n mod M (model/cluster/placement.ts). Default: true when more than one member is in use. */
    spread: z.boolean("expected true or false").optional(),
    /** A node whose member is offline goes on a live member instead of refusing the deploy. */
    allowReschedule: z.boolean("expected true or false").optional(),
    /** Host names the route is matched within (the Host header); absent: any host. */
    hosts: hostsSpec.optional(),
    /** How HAProxy balances the nodes (model/edge/routing.ts); absent: roundrobin. */
    balance: balanceSpec.optional(),
    /** Raw lines for this component's backend, checked as haproxy.extra's. */
    haproxy: z.array(haproxyLine).optional(),
});

const DEFAULT_COMPONENTS = {
    backend: { port: 8080, hostPort: 18110, route: "/api", healthPath: "/health", healthStatus: DEFAULT_HEALTH_STATUS, env: {}, nodes: 1 },
    stream: { port: 8080, hostPort: 18120, route: "/stream", healthPath: "/health", healthStatus: DEFAULT_HEALTH_STATUS, env: {}, nodes: 1 },
    web: { port: 8080, hostPort: 18130, route: "/", healthPath: "/health", healthStatus: DEFAULT_HEALTH_STATUS, env: {}, nodes: 1 },
};

const incusSpec = z.strictObject({
    /** An `incus remote` name; absent means the local daemon. */
    remote: safeName.optional(),
    image: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected an image alias of letters, digits and ._-")
        .default("bluegreen-base"),
    profiles: z.array(safeName).min(1).default(["default"]),
    /** Containers created, installed and started (or deleted) at once by one up; absent: 4 (README: Scale). */
    parallel: z.int("expected a whole number").min(1, "expected at least 1").max(64, "expected at most 64").optional(),
    /** The cluster members to use, in placement's order; absent: every member the cluster lists, by name. */
    members: z
        .array(safeName)
        .min(1, "expected at least one member (leave the key out for all of them)")
        .superRefine((a, ctx) => {
            for (const m of new Set(a.filter((m, i) => a.indexOf(m) !== i))) ctx.addIssue({ code: "custom", message: `${m} is named twice` });
        })
        .optional(),
    /** Members whose nodes take no new requests: drained before `incus cluster evacuate` (model/cluster/placement.ts memberDrain). */
    drain: z
        .array(safeName)
        .superRefine((a, ctx) => {
            for (const m of new Set(a.filter((m, i) => a.indexOf(m) !== i))) ctx.addIssue({ code: "custom", message: `${m} is named twice` });
        })
        .optional(),
});

/** `proxy`: proxy devices on loopback (today's model). `routed`: a routed NIC per instance, addresses from a range (model/cluster/network.ts). */
const networkSpec = z.discriminatedUnion(
    "mode",
    [
        z.strictObject({ mode: z.literal("proxy") }),
        z.strictObject({
            mode: z.literal("routed"),
            /** The members' interface the routed NICs hang off (the same name on every member). */
            parent: z.string("expected a network interface name").regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/, "expected a network interface name such as eth0"),
            addresses: z.string("expected an IPv4 range").superRefine((t, ctx) => {
                const r = parseAddressRange(t);
                if (typeof r === "string") ctx.addIssue({ code: "custom", message: r });
            }),
        }),
    ],
    "expected mode proxy or routed",
);

const artifactsSpec = z.discriminatedUnion("type", [
    z.strictObject({
        type: z.literal("dir"),
        /** Relative paths resolve against the project directory. */
        path: z.string().regex(/^[A-Za-z0-9._/-]+$/, "expected a path of letters, digits and ._/-"),
    }),
    z.strictObject({
        type: z.literal("http"),
        /** Base of a generic-package registry, e.g. https://forge.example/api/packages/acme/generic */
        url: z
            .string()
            .regex(/^https?:\/\/[A-Za-z0-9.:\[\]-]+(\/[A-Za-z0-9._~/-]*)?$/, "expected an http(s) URL")
            .refine(
                (u) => !u.startsWith("http:") || isLoopbackUrl(u),
                "expected an https URL (http only to loopback: 127.0.0.0/8, ::1 or localhost): the token would travel in clear",
            ),
    }),
]);

/** Loopback by its address as the URL parser normalizes it (`127.1` is 127.0.0.1), or `localhost`. */
function isLoopbackUrl(url: string): boolean {
    let host: string;
    try {
        host = new URL(url).hostname;
    } catch {
        return false;
    }
    return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const haproxySpec = z.strictObject({
    /** `host`: a haproxy process on this machine (dev). `incus`: inside the `<prefix>haproxy` instance. */
    placement: z.enum(["host", "incus"]).default("host"),
    frontendPort: port,
    /** HAProxy's own Prometheus exporter. */
    exporterPort: port,
    /** `runtime`: flip server weights over the admin socket (no reload). `reload`: master-worker reload. */
    switchMethod: z.enum(["runtime", "reload"]).default("runtime"),
    /** Host placement: directory for config, sockets and the active-color file. */
    dir: absPath.optional(),
    /** Bound for a switch to settle: servers UP in HAProxy, the frontend serving the new color. */
    settleMs: z.int().min(1000).max(300_000).default(15_000),
    /** Incus placement: the cluster member of the HAProxy instance; absent: the first member in use. */
    member: safeName.optional(),
    /** Where HAProxy answers clients (model/edge/listen.ts); absent: 127.0.0.1:<frontendPort> only. */
    listen: listenSpec,
    extra: z
        .strictObject({
            global: z.array(haproxyLine).default([]),
            defaults: z.array(haproxyLine).default([]),
            frontend: z.array(haproxyLine).default([]),
        })
        .default({ global: [], defaults: [], frontend: [] }),
});

const healthSpec = z.strictObject({
    attempts: z.int().min(1).max(600).default(30),
    intervalMs: z.int().min(50).max(60_000).default(1000),
    timeoutMs: z.int().min(100).max(60_000).default(2000),
});

const cleanupSpec = z.strictObject({
    /**
     * The color to assume serves traffic when the live one cannot be read (HAProxy's
     * instance stopped for maintenance). Only then: a readable live color always wins.
     */
    assumeActive: z.enum(COLORS, "expected blue or green").optional(),
});

/** bluegreen:secretEnv, once decrypted: `{ <component>: { <VAR>: <value> } }`. */
const secretEnvSpec = z.record(safeName, envMap);

const migrationsSpec = z.strictObject({
    /** Roll out despite the migration guard's findings (the seed's FORCE_MIGRATE=1); each overridden finding is logged. */
    force: z.boolean("expected true or false").default(false),
    /** Warning rules (model/stateful/migrations.ts WARNING_RULES) that refuse a rollout like the blocking ones. */
    block: z
        .array(z.enum(Object.keys(WARNING_RULES) as [WarningRule, ...WarningRule[]], `expected one of ${Object.keys(WARNING_RULES).join(", ")}`))
        .default([]),
});

/** A PromQL template; see model/rollout/promql.ts for its placeholders. */
const promqlTemplate = z.string("expected a PromQL query as a string").superRefine((t, ctx) => {
    for (const message of templateProblems(t)) ctx.addIssue({ code: "custom", message });
});

/** bluegreen:canary.load, bluegreen:progressive.load (model/rollout/load.ts). */
const loadSpec = z.strictObject({
    path: z.string("expected a path such as /").regex(/^\/[\x21-\x7e]*$/, "expected a path starting with / and no spaces, such as /api/items"),
    rps: z
        .number("expected requests per second")
        .positive("expected more than 0 requests per second")
        .max(10_000, "expected at most 10000 requests per second"),
    concurrency: z.int("expected a whole number of connections").min(1, "expected at least 1 connection").max(256, "expected at most 256 connections"),
    headers: z
        .record(z.string(), z.string("expected a header value as a string"))
        .superRefine((h, ctx) => {
            for (const [name, value] of Object.entries(h))
                for (const message of loadHeaderProblems(name, value)) ctx.addIssue({ code: "custom", path: [name], message });
        })
        .optional(),
});

/** bluegreen:canary.metrics: custom SLIs (model/rollout/analysis.ts judgeMetrics). */
const customMetric = z
    .strictObject({
        name: z.string("expected a name").regex(/^[A-Za-z][A-Za-z0-9 _.-]{0,62}$/, "expected a short name of letters, digits, spaces, _ . and -"),
        query: promqlTemplate,
        max: z.number("expected a number").optional(),
        min: z.number("expected a number").optional(),
    })
    .refine((m) => m.max !== undefined || m.min !== undefined, "expected max, min or both: a metric without a bound judges nothing")
    .refine((m) => m.max === undefined || m.min === undefined || m.min <= m.max, "expected min at most max");

/** Argo's AnalysisRun limits; absent: 0, the first such probe ends the window red. */
const probeLimit = z.int("expected a whole number of probes").min(0, "expected 0 or more probes").max(1000, "expected at most 1000 probes");
/** bluegreen:canary.gateTimeoutSeconds's default: a day. */
export const DEFAULT_GATE_TIMEOUT_SECONDS = 86_400;
const promotion = z.enum(["auto", "manual"], "expected auto or manual");
const gateTimeout = z.int("expected whole seconds").min(1, "expected at least 1 second").max(604_800, "expected at most 604800 seconds (a week)");

const canarySpec = z.strictObject({
    /** The canary node (wired later). */
    node: z.int("expected a node number").min(1, "expected a node number of at least 1").optional(),
    /** The SLI window (seed: SLI_WINDOW). */
    windowSeconds: z.int("expected whole seconds").min(1, "expected at least 1 second").max(86_400, "expected at most 86400 seconds (a day)").default(3600),
    /** Seed: SLI_PROBE_INTERVAL. */
    probeIntervalSeconds: z.int("expected whole seconds").min(1, "expected at least 1 second").max(3600, "expected at most 3600 seconds").default(30),
    /** Seed: PROM_P95_THRESHOLD_S. */
    p95Seconds: z.number("expected seconds").positive("expected more than 0 seconds").default(0.5),
    /** Seed: PROM_ERR_RATE_THRESHOLD. */
    errorRatio: z.number("expected a ratio from 0 to 1").min(0, "expected a ratio from 0 to 1").max(1, "expected a ratio from 0 to 1").default(0.005),
    /** A probe whose window holds fewer requests is red: traffic too thin to judge. */
    minRequests: z.int("expected a whole number of requests").min(1, "expected at least 1 request").default(20),
    healthTimeoutSeconds: z.int("expected whole seconds").min(1, "expected at least 1 second").max(3600, "expected at most 3600 seconds").default(60),
    onRed: z.enum(["rollback", "pause"], "expected rollback or pause").default("rollback"),
    /** `cookie`: a client stays on the node, hence the release, it landed on (model/edge/sticky.ts). */
    sticky: stickySpec,
    /** `manual`: after a green window, the peers wait for `rollout promote` (README: Rollout controls). Absent: auto. */
    promotion: promotion.optional(),
    /** Bound on a manual gate (and a pause); past it the rollout rolls back. Absent: a day. Absent keys keep old stacks' inputs. */
    gateTimeoutSeconds: gateTimeout.optional(),
    queries: z
        .strictObject({
            p95: promqlTemplate.default(DEFAULT_QUERIES.p95),
            errorRatio: promqlTemplate.default(DEFAULT_QUERIES.errorRatio),
            requests: promqlTemplate.default(DEFAULT_QUERIES.requests),
        })
        .default({ ...DEFAULT_QUERIES }),
    /** Failed probes (a value out of bounds) the window rides out; absent: 0. */
    failureLimit: probeLimit.optional(),
    /** Probes that cannot be judged (no data, NaN, thin traffic, a Prometheus error) the window rides out; absent: 0. */
    inconclusiveLimit: probeLimit.optional(),
    metrics: z
        .array(customMetric, "expected a list of { name, query, max?, min? }")
        .refine((a) => new Set(a.map((m) => m.name)).size === a.length, "expected each metric's name once")
        .optional(),
    /** Requests bluegreen drives through the frontend for the whole window. */
    load: loadSpec.optional(),
});

/** A progressive traffic shift between the colors (release/rollout/shift.ts), gated by the canary's SLIs. */
const progressiveSpec = z.strictObject({
    /** Percent of traffic on the new color at each step; increasing, the last is 100. */
    steps: z
        .array(z.int("expected whole percents").min(1, "expected 1 to 100").max(100, "expected 1 to 100"), "expected a list of percents like [10, 25, 50, 100]")
        .min(1, "expected at least one step")
        .refine((a) => a.every((p, i) => i === 0 || p > a[i - 1]!), "expected increasing percents")
        .refine((a) => a.at(-1) === 100, "expected the last step to be 100"),
    /** The SLI window of each step. */
    stepSeconds: z.int("expected whole seconds").min(1, "expected at least 1 second").max(86_400, "expected at most 86400 seconds").default(60),
    probeIntervalSeconds: z.int("expected whole seconds").min(1, "expected at least 1 second").max(3600, "expected at most 3600 seconds").optional(),
    /** Absolute thresholds; absent: the canary's (bluegreen:canary), or its defaults. */
    p95Seconds: z.number("expected seconds").positive("expected more than 0 seconds").optional(),
    errorRatio: z.number("expected a ratio from 0 to 1").min(0, "expected a ratio from 0 to 1").max(1, "expected a ratio from 0 to 1").optional(),
    minRequests: z.int("expected a whole number of requests").min(1, "expected at least 1 request").optional(),
    /** Relative: red when the new color's p95 is more than this many times the old one's, over the same window. */
    maxP95Factor: z.number("expected a factor").min(1, "expected a factor of at least 1").default(1.5),
    /** Relative: red when the new color's error ratio exceeds the old one's by more than this. */
    maxErrorRatioDelta: z.number("expected a ratio from 0 to 1").min(0, "expected a ratio from 0 to 1").max(1, "expected a ratio from 0 to 1").default(0.01),
    /** Absent: the canary's, or 0. */
    failureLimit: probeLimit.optional(),
    inconclusiveLimit: probeLimit.optional(),
    /** Requests bluegreen drives through the frontend during each step. */
    load: loadSpec.optional(),
    /** `cookie`: a client stays on the color it landed on until the shift ends (model/edge/sticky.ts). */
    sticky: stickySpec,
    /** `manual`: each step after the first waits for `rollout promote`. Absent: the canary's. */
    promotion: promotion.optional(),
    /** Absent: the canary's, else a day. */
    gateTimeoutSeconds: gateTimeout.optional(),
});

/** bluegreen:switch: `promotion: manual` holds a switch, green deployed and healthy, until `rollout promote`. */
const switchSpec = z.strictObject({
    promotion: promotion.default("auto"),
    /** Absent: the canary's, else a day. */
    gateTimeoutSeconds: gateTimeout.optional(),
});

const prometheusSpec = z.strictObject({
    /** An existing server (staging/prod). Absent: the program runs one on this host (dev). */
    url: z
        .string("expected an http(s) URL")
        .regex(
            /^https?:\/\/[A-Za-z0-9.:\[\]-]+(\/[A-Za-z0-9._~/-]*)?$/,
            "expected an http(s) URL such as http://prom.example:9090, without credentials (they would end up in state and logs)",
        )
        .optional(),
    /** Loopback port of the Prometheus the program runs. */
    port: port.default(19090),
    /** Of the Prometheus the program runs. */
    scrapeIntervalSeconds: z.int("expected whole seconds").min(1, "expected at least 1 second").max(300, "expected at most 300 seconds").default(15),
    /** Where the program runs it: this host, or inside the HAProxy instance. Absent: incus with a remote and no url, else host. */
    placement: z.enum(["host", "incus"], "expected host or incus").optional(),
});

/** Incus snapshot names of our own scheme (model/stateful/stateful.ts snapshotId). */
const SNAPSHOT_ID = /^kg-\d{8}t\d{6}z-(?:[0-9a-f]{7,40}|unknown)$/;

const statefulSpec = z.strictObject({
    /** An immutable release in the artifact store, like the colors'. */
    release,
    port: port.default(8080),
    /** Its one loopback port on the Incus host. */
    hostPort: port,
    healthPath: urlPath.default("/health"),
    healthStatus: statusList.default(DEFAULT_HEALTH_STATUS),
    healthBody: bodyMatch.optional(),
    env: envMap.default({}),
    /** A path prefix HAProxy routes to it, beside the components' routes; absent: not behind HAProxy. */
    route: urlPath.optional(),
    /** Incus custom volume name to mount path; `<prefix><service>-<volume>` in Incus. */
    volumes: z
        .record(safeName, absPath)
        .refine((v) => Object.keys(v).length > 0, "expected at least one volume: a stateful service without data is a component")
        .refine((v) => new Set(Object.values(v)).size === Object.values(v).length, "expected a distinct mount path per volume"),
    /** The Incus storage pool of its volumes. */
    pool: safeName.default("default"),
    /** Removing the service deletes its volumes too only with this set. */
    deleteVolumes: z.boolean("expected true or false").default(false),
    /** A snapshot id to restore (status --json shows them); keeping the same value is a no-op. */
    restore: z.string().regex(SNAPSHOT_ID, "expected a snapshot id like kg-20261203t081500z-1a1a1a1 (see status --json)").optional(),
    /** On a cluster, the member it is pinned to: its volumes live in that member's pool. */
    member: safeName.optional(),
});

/** A user's own shell command: run with /bin/sh -c, theirs to write. */
const shellCommand = z.string().trim().min(1, "expected a shell command").max(4096, "expected at most 4096 characters");

/** Each runs as a @pulumi/command local.Command at its moment (components/hooks.ts). */
const hooksSpec = z.strictObject({
    /** Before a color's containers are created or replaced; a non-zero exit aborts before anything is touched. */
    preDeploy: shellCommand.optional(),
    /** After they are healthy. */
    postDeploy: shellCommand.optional(),
    /** Before traffic moves. */
    preSwitch: shellCommand.optional(),
    /** After it moved. */
    postSwitch: shellCommand.optional(),
    /** After the automatic rollback of a canary or a guarded upgrade. */
    postRollback: shellCommand.optional(),
    /** Variables of the runner's environment that hooks and the broadcast get beyond PATH, HOME, LANG and BLUEGREEN_*. */
    passEnv: z
        .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name (letters, digits and _, not starting with a digit)"))
        .max(64, "expected at most 64 names")
        .optional(),
});

/** Release retention in the artifact store (release/safety/retention.ts). */
const retainSpec = z.strictObject({
    /** Releases kept per component, newest first; rollback targets are kept beyond it. */
    releases: z.int("expected a whole number").min(1, "expected at least 1").max(1000, "expected at most 1000"),
});

/** Boot in groups (seed 004: group_limit / group_wait). */
const bootSpec = z.strictObject({
    /** Nodes of a pool created or replaced at once: a count, or a share like "25%". */
    limit: z.union([
        z.int('expected a whole number or a percentage like "25%"').min(1, "expected at least 1"),
        z.string().regex(/^(100|[1-9][0-9]?)%$/, 'expected a percentage like "25%"'),
    ]),
    /** Pause between groups. */
    waitSeconds: z.number("expected seconds").min(0, "expected 0 or more seconds").max(600, "expected at most 600 seconds").default(0),
});

const DEFAULT_PROMETHEUS: z.infer<typeof prometheusSpec> = { port: 19090, scrapeIntervalSeconds: 15 };

/**
 * Resolves prometheus.placement: `placement: "incus"` is kept only when it applies, so a
 * host-placed section reads as before the key existed. The default follows where this host
 * can scrape: with a remote it cannot (app ports are on the remote's loopback), so incus.
 */
function prometheusOf(
    p: z.infer<typeof prometheusSpec> | undefined,
    haproxyPlacement: "host" | "incus",
    remote: string | undefined,
    problems: string[],
): z.infer<typeof prometheusSpec> | undefined {
    if (!p) return undefined;
    const { placement, ...rest } = p;
    const where = `${NAMESPACE}:prometheus.placement`;
    const resolved = placement ?? (remote && haproxyPlacement === "incus" && !p.url ? "incus" : "host");
    if (resolved === "incus" && p.url) {
        problems.push(`${where}: incus runs the program's own Prometheus, but prometheus.url names your own server; drop one of them`);
    } else if (resolved === "incus" && haproxyPlacement !== "incus") {
        problems.push(
            `${where}: incus runs Prometheus inside the HAProxy instance, and haproxy.placement is host; set haproxy.placement: incus, or prometheus.placement: host`,
        );
    } else if (resolved === "host" && remote && !p.url) {
        problems.push(
            `${where}: host runs Prometheus on this machine, which cannot reach the apps on remote ${remote}; set prometheus.placement: incus, or prometheus.url to your own server`,
        );
    }
    return resolved === "incus" ? { ...rest, placement: "incus" } : rest;
}

const schema = z.strictObject({
    active: z.enum(COLORS, "expected blue or green"),
    colors: z.strictObject({ blue: colorSpec.optional(), green: colorSpec.optional() }),
    app: safeName.default(NAMESPACE),
    prefix: z
        .string()
        .regex(/^([a-z][a-z0-9-]{0,29})?$/, "expected up to 30 lowercase letters, digits and hyphens, starting with a letter")
        .optional(),
    components: z
        .record(safeName, componentSpec)
        .refine((c) => Object.keys(c).length > 0, "expected at least one component")
        .default(DEFAULT_COMPONENTS),
    incus: incusSpec.default({ image: "bluegreen-base", profiles: ["default"] }),
    artifacts: artifactsSpec.default({ type: "dir", path: ".artifacts" }),
    haproxy: haproxySpec,
    health: healthSpec.default({ attempts: 30, intervalMs: 1000, timeoutMs: 2000 }),
    cleanup: cleanupSpec.default({}),
    migrations: migrationsSpec.default({ force: false, block: [] }),
    canary: canarySpec.optional(),
    prometheus: prometheusSpec.optional(),
    stateful: z.record(safeName, statefulSpec).default({}),
    progressive: progressiveSpec.optional(),
    switch: switchSpec.optional(),
    hooks: hooksSpec.default({}),
    /** Run for each audit event, with its fields as BLUEGREEN_* variables; a failure is logged, never fatal. */
    broadcast: shellCommand.optional(),
    retain: retainSpec.optional(),
    boot: bootSpec.optional(),
    /** Adopt what Incus holds of this stack when its state is empty (README: State backend). */
    adopt: z.boolean("expected true or false").optional(),
    network: networkSpec.optional(),
    /** README: Edge. */
    maintenance: maintenanceSpec.optional(),
    /** README: Edge. */
    accessLog: accessLogSpec.optional(),
    /** Requests to the idle color (model/edge/preview.ts). */
    preview: previewSpec.optional(),
    /** bluegreen:tls.acme (model/edge/acme.ts); the certificates themselves are the secret key tls.certificates. */
    tls: z.strictObject({ acme: acmeSpec.optional() }).optional(),
    /** A stack only for tests: preview does not warn of analysis windows under 300 s. */
    testStack: z.boolean("expected true or false").optional(),
});

export type ArtifactStoreSpec = z.infer<typeof artifactsSpec>;
export type HealthSpec = z.infer<typeof healthSpec>;
export type HaproxySpec = z.infer<typeof haproxySpec>;
export type IncusSpec = z.infer<typeof incusSpec>;
export type CleanupSpec = z.infer<typeof cleanupSpec>;
export type MigrationsSpec = z.infer<typeof migrationsSpec>;
export type CanarySpec = z.infer<typeof canarySpec>;
export type PrometheusSpec = z.infer<typeof prometheusSpec>;
export type HooksSpec = z.infer<typeof hooksSpec>;
export type RetainSpec = z.infer<typeof retainSpec>;
export type BootSpec = z.infer<typeof bootSpec>;
export type RoutedNetwork = Extract<z.infer<typeof networkSpec>, { mode: "routed" }>;

/** A progressive shift with every threshold resolved (from bluegreen:progressive, else bluegreen:canary, else defaults). */
export interface ProgressiveConfig {
    readonly steps: readonly number[];
    readonly stepSeconds: number;
    readonly probeIntervalSeconds: number;
    readonly p95Seconds: number;
    readonly errorRatio: number;
    readonly minRequests: number;
    readonly maxP95Factor: number;
    readonly maxErrorRatioDelta: number;
    readonly queries: CanarySpec["queries"];
    /** The canary's custom SLIs. */
    readonly metrics?: CanarySpec["metrics"];
    readonly failureLimit: number;
    readonly inconclusiveLimit: number;
    readonly load?: LoadSpec;
    /** bluegreen:progressive.sticky; absent: none. */
    readonly sticky?: "cookie";
    readonly promotion: "auto" | "manual";
    readonly gateTimeoutSeconds: number;
}

/** A singleton beside the colors, with a guarded upgrade instead of a switch (release/stateful/stateful.ts). */
export interface StatefulConfig {
    readonly name: string;
    readonly release: string;
    readonly port: number;
    readonly hostPort: number;
    readonly healthPath: string;
    readonly healthStatus: string;
    readonly healthBody?: string;
    readonly env: Readonly<Record<string, string>>;
    /** Path prefix HAProxy routes to it; absent: reached only on its hostPort. */
    readonly route?: string;
    /** Sorted by volume name. */
    readonly volumes: readonly { readonly name: string; readonly path: string }[];
    readonly pool: string;
    readonly deleteVolumes: boolean;
    readonly restore?: string;
    /** On a cluster, the member it is pinned to. */
    readonly member?: string;
}

export interface ComponentConfig {
    readonly name: string;
    readonly port: number;
    readonly hostPort: number;
    /** Containers per color; 1 keeps the names and ports of a component without a pool. */
    readonly nodes: number;
    readonly route: string;
    readonly healthPath: string;
    readonly healthStatus: string;
    readonly healthBody?: string;
    readonly env: Readonly<Record<string, string>>;
    /** Names of its secret variables (values stay in Pulumi's secret config, read by the program). */
    readonly secretEnv: readonly string[];
    readonly spread?: boolean;
    readonly allowReschedule?: boolean;
    readonly hosts?: readonly string[];
    readonly balance?: string;
    readonly haproxy?: readonly string[];
}

export interface StackConfig {
    /** The names of bluegreen:tls.certificates' bundles (the bundles stay Pulumi secrets); absent: none. */
    readonly tlsCertificates?: readonly string[];
    /** bluegreen:tls.acme: a certificate ordered and renewed by bluegreen; absent: none. */
    readonly acme?: AcmeConfig;
    readonly stack: string;
    readonly app: string;
    readonly prefix: string;
    readonly active: Color;
    /** Only the colors that exist; a color that is absent has no containers. */
    readonly colors: Partial<Record<Color, { readonly release: string }>>;
    /** Sorted by name, so every derived list is stable. */
    readonly components: readonly ComponentConfig[];
    readonly incus: IncusSpec;
    readonly artifacts: ArtifactStoreSpec;
    readonly haproxy: HaproxySpec;
    readonly health: HealthSpec;
    readonly cleanup: CleanupSpec;
    /** The migration guard (release/stateful/migrationGuard.ts). */
    readonly migrations: MigrationsSpec;
    /** Absent: no canary. */
    /** bluegreen:testStack: preview does not warn of short analysis windows. */
    readonly testStack?: boolean;
    readonly canary?: CanarySpec;
    /**
     * Where SLIs are queried. With `url`, an existing server; without, the one the program
     * runs on this host. Absent when there is neither a canary nor a `bluegreen:prometheus`
     * section; a canary without one gets the program's own Prometheus with the defaults.
     */
    readonly prometheus?: PrometheusSpec;
    /** Sorted by name. */
    readonly stateful: readonly StatefulConfig[];
    readonly hooks: HooksSpec;
    readonly broadcast?: string;
    /** Absent: the artifact store keeps everything. */
    readonly retain?: RetainSpec;
    /** Absent: every node of a pool at once. */
    readonly boot?: BootSpec;
    /** Absent: a switch moves all traffic at once. */
    readonly progressive?: ProgressiveConfig;
    /** bluegreen:switch.promotion: manual; absent: a switch does not wait. */
    readonly switchGate?: { readonly gateTimeoutSeconds: number };
    /** bluegreen:adopt: true; absent otherwise. An up from an empty state adopts what is live instead of refusing. */
    readonly adopt?: true;
    /** bluegreen:network in routed mode; absent: proxy devices on loopback. */
    readonly network?: RoutedNetwork;
    /** bluegreen:maintenance; absent: never configured (the frontend has no maintenance rule). */
    readonly maintenance?: MaintenanceSpec;
    /** bluegreen:accessLog; absent: HAProxy logs no requests. */
    readonly accessLog?: AccessLogSpec;
    /** bluegreen:preview; absent: no preview route. */
    readonly preview?: PreviewSpec;
}

export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        // Validation runs before anything is touched.
        super(
            `invalid stack config:\n  ${problems.join("\n  ")}\nNothing was touched. Fix these keys in the stack's config (Pulumi.<stack>.yaml), then run again.`,
        );
        this.name = "ConfigError";
    }
}

function keyPath(path: readonly PropertyKey[]): string {
    let out = `${NAMESPACE}:${String(path[0] ?? "")}`;
    for (const p of path.slice(1)) {
        out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
    }
    return out;
}

/** One line per problem, each naming its full key path. */
function describe(issue: z.core.$ZodIssue): string[] {
    if (issue.code === "unrecognized_keys") {
        return issue.keys.map((k) => `${keyPath([...issue.path, k])}: unknown key (check the spelling against the README's config reference)`);
    }
    if (issue.code === "invalid_key") {
        const inner = issue.issues[0]?.message ?? issue.message;
        return [`${keyPath(issue.path)}: invalid name: ${inner}`];
    }
    return [`${keyPath(issue.path)}: ${issue.message.replace(/^Invalid input: /, "")}`];
}

/**
 * Validates raw config (keys without the `bluegreen:` namespace, structured values
 * already parsed). Throws ConfigError listing every problem.
 */
export function parseConfig(raw: Record<string, unknown>, stack: string, secretEnv: Readonly<Record<string, readonly string[]>> = {}): StackConfig {
    const result = schema.safeParse(raw);
    if (!result.success) {
        throw new ConfigError(result.error.issues.flatMap(describe));
    }
    const c = result.data;
    const problems: string[] = [];

    const prefix = c.prefix ?? `${stack}-`;
    if (c.prefix === undefined && !/^[a-z][a-z0-9-]{0,29}$/.test(prefix)) {
        problems.push(`${NAMESPACE}:prefix: stack name ${JSON.stringify(stack)} cannot be a container name prefix; set bluegreen:prefix`);
    }

    const active = c.active;
    if (!c.colors[active]) {
        const other = otherColor(active);
        problems.push(
            `${NAMESPACE}:colors.${active}: ${active} is the active color and serves traffic, so it cannot be absent. ` +
                `Keep bluegreen:colors.${active}; to clean ${active} up, first switch traffic with bluegreen:active: ${other}.`,
        );
    }

    const components = Object.entries(c.components)
        .map(([name, spec]) => ({ name, ...spec, secretEnv: [...(secretEnv[name] ?? [])].sort() }))
        .sort((a, b) => a.name.localeCompare(b.name));
    for (const [name, vars] of Object.entries(secretEnv)) {
        const comp = c.components[name];
        if (!comp) {
            problems.push(`${NAMESPACE}:secretEnv.${name}: no component ${name} in bluegreen:components`);
            continue;
        }
        for (const v of vars) if (v in comp.env) problems.push(`${NAMESPACE}:secretEnv.${name}.${v}: also set in bluegreen:components.${name}.env; keep one`);
    }

    const ports = new Map<number, string>();
    const claim = (p: number, who: string) => {
        const owner = ports.get(p);
        if (owner) problems.push(`${who}: port ${p} is already used by ${owner}; every loopback port must be distinct`);
        else ports.set(p, who);
    };
    claim(c.haproxy.frontendPort, `${NAMESPACE}:haproxy.frontendPort`);
    claim(c.haproxy.exporterPort, `${NAMESPACE}:haproxy.exporterPort`);
    problems.push(...listenProblems(c.haproxy.listen, `${NAMESPACE}:haproxy.listen`));
    (c.haproxy.listen ?? []).forEach((l, i) => claim(l.port, `${NAMESPACE}:haproxy.listen[${i}].port`));
    if (c.accessLog) claim(accessLogPort(c.accessLog, c.haproxy.frontendPort), `${NAMESPACE}:accessLog.port`);
    const acme = c.tls?.acme;
    problems.push(...acmeProblems(acme, `${NAMESPACE}:tls.acme`));
    if (acme && !(c.haproxy.listen ?? []).some((l) => l.tls)) {
        problems.push(`${NAMESPACE}:tls.acme: no listener serves TLS; add one to bluegreen:haproxy.listen with tls: true (port 443 in production)`);
    }
    if (acme && !(c.haproxy.listen ?? []).some((l) => !l.tls)) {
        problems.push(
            `${NAMESPACE}:tls.acme: the CA checks HTTP-01 on plain HTTP; add a listener without tls to bluegreen:haproxy.listen (port 80 in production; redirect: https is fine)`,
        );
    }
    const prometheus = prometheusOf(
        c.prometheus ?? (c.canary || c.progressive ? DEFAULT_PROMETHEUS : undefined),
        c.haproxy.placement,
        c.incus.remote,
        problems,
    );
    if (c.incus.remote && c.haproxy.placement === "host") {
        problems.push(
            `${NAMESPACE}:haproxy.placement: host cannot go with bluegreen:incus.remote (${c.incus.remote}): HAProxy on this machine would route to ` +
                `loopback ports that exist only on the remote's host; set bluegreen:haproxy.placement: incus, or remove bluegreen:incus.remote`,
        );
    }
    if (c.incus.remote && prometheus?.url !== undefined) {
        problems.push(
            `${NAMESPACE}:prometheus.url cannot go with bluegreen:incus.remote (${c.incus.remote}) yet: the scrape targets are loopback ports of the remote's host, ` +
                `which a Prometheus elsewhere does not reach, and the targets file would be written on this machine; ` +
                `drop prometheus.url: with a remote the program runs its own Prometheus in the HAProxy instance (prometheus.placement: incus)`,
        );
    }
    if (prometheus && prometheus.url === undefined) claim(prometheus.port, `${NAMESPACE}:prometheus.port`);
    if (c.canary && c.canary.probeIntervalSeconds > c.canary.windowSeconds) {
        problems.push(
            `${NAMESPACE}:canary.probeIntervalSeconds: ${c.canary.probeIntervalSeconds} s is longer than canary.windowSeconds (${c.canary.windowSeconds} s); ` +
                `a window needs at least one probe`,
        );
    }
    const routes = new Map<string, string>();
    const claimRoute = (route: string, where: string, who: string, hosts: readonly (string | undefined)[] = [undefined]) => {
        for (const host of hosts) {
            const owner = routes.get(routeKey(routePrefix(route), host));
            if (owner) problems.push(`${where}: ${describeRoute(route, host)} is already routed to ${owner}`);
            else routes.set(routeKey(routePrefix(route), host), who);
        }
    };
    for (const comp of components) {
        const where = `${NAMESPACE}:components.${comp.name}`;
        const last = lastHostPort(comp.hostPort, comp.nodes);
        if (last > 65535) {
            problems.push(
                comp.nodes === 1
                    ? `${where}.hostPort: expected at most 65534 (green uses hostPort + 1)`
                    : `${where}.hostPort: expected at most ${65535 - (last - comp.hostPort)} (${comp.nodes} nodes use hostPort to hostPort + ${last - comp.hostPort})`,
            );
        }
        // A pool keeps the ports of one node free too: it may shrink to one (topology.ts).
        for (const node of comp.nodes > 1 ? [undefined, ...nodesOf(comp.nodes)] : nodesOf(comp.nodes)) {
            const which = node === undefined ? (comp.nodes > 1 ? ", kept for a pool of one" : "") : ` node ${node}`;
            const offset = (color: Color) => colorHostPort(comp.hostPort, color, node) - comp.hostPort;
            claim(colorHostPort(comp.hostPort, "blue", node), `${where}.hostPort${offset("blue") ? ` + ${offset("blue")}` : ""} (blue${which})`);
            claim(colorHostPort(comp.hostPort, "green", node), `${where}.hostPort + ${offset("green")} (green${which})`);
        }
        claimRoute(comp.route, `${where}.route`, comp.name, comp.hosts);
        for (const color of COLORS) {
            const n = containerName(prefix, comp.name, color, nodesOf(comp.nodes).at(-1));
            if (n.length > 63) problems.push(`${where}: container name ${n} is longer than Incus's 63 characters; shorten the prefix or component name`);
        }
    }

    const stateful = Object.entries(c.stateful)
        .map(([name, spec]): StatefulConfig => {
            const { volumes, healthBody, restore, route, ...rest } = spec;
            return {
                name,
                ...rest,
                ...(healthBody ? { healthBody } : {}),
                ...(route ? { route } : {}),
                ...(restore ? { restore } : {}),
                volumes: Object.entries(volumes)
                    .map(([v, path]) => ({ name: v, path }))
                    .sort((a, b) => a.name.localeCompare(b.name)),
            };
        })
        .sort((a, b) => a.name.localeCompare(b.name));
    const colorContainers = new Set(
        components.flatMap((comp) => COLORS.flatMap((color) => [undefined, ...nodesOf(comp.nodes)].map((n) => containerName(prefix, comp.name, color, n)))),
    );
    for (const svc of stateful) {
        const where = `${NAMESPACE}:stateful.${svc.name}`;
        claim(svc.hostPort, `${where}.hostPort`);
        if (svc.route) claimRoute(svc.route, `${where}.route`, `stateful service ${svc.name}`);
        if (colorOfServer(svc.name) !== undefined) {
            problems.push(
                `${where}: the name ${svc.name} reads as a color's server (blue, green, blue-<n>, green-<n>), which the cleanup guard counts as that color's traffic; rename the service`,
            );
        }
        const name = statefulName(prefix, svc.name);
        if (name === haproxyInstanceName(prefix) || colorContainers.has(name)) {
            problems.push(
                `${where}: its container ${name} would be the name of ${name === haproxyInstanceName(prefix) ? "the HAProxy instance" : "a component's container"}; rename the service`,
            );
        }
        if (name.length > 63) problems.push(`${where}: container name ${name} is longer than Incus's 63 characters; shorten the prefix or service name`);
        for (const v of svc.volumes) {
            const n = statefulVolumeName(prefix, svc.name, v.name);
            if (n.length > 63)
                problems.push(`${where}.volumes.${v.name}: volume name ${n} is longer than Incus's 63 characters; shorten the prefix, service or volume name`);
        }
    }

    if (c.preview?.port !== undefined) {
        if (c.haproxy.placement === "incus")
            problems.push(
                `${NAMESPACE}:preview.port: a preview port is not forwarded into the HAProxy instance yet; use preview.header, preview.cookie or preview.host`,
            );
        else claim(c.preview.port, `${NAMESPACE}:preview.port`);
    }
    // A persistence cookie takes a client to the node it first landed on, whatever a request hash says.
    const sticky = [...(c.canary?.sticky ? ["canary.sticky"] : []), ...(c.progressive?.sticky ? ["progressive.sticky"] : [])];
    for (const comp of sticky.length ? components : []) {
        if (comp.balance && comp.balance !== "source" && isHashBalance(comp.balance))
            problems.push(
                `${NAMESPACE}:components.${comp.name}.balance: ${comp.balance} keeps a request key on one node, and ${sticky.map((k) => `${NAMESPACE}:${k}: cookie`).join(" and ")} ` +
                    `sends a client's every request to the node it first landed on, so the hash would be silently ignored; ` +
                    `remove ${sticky.map((k) => `${NAMESPACE}:${k}`).join(" and ")}, or set components.${comp.name}.balance to roundrobin, leastconn or source`,
            );
    }
    problems.push(...clusterProblems(c, components, stateful));

    if (problems.length > 0) throw new ConfigError(problems);

    const colors: Partial<Record<Color, { release: string }>> = {};
    for (const color of COLORS) {
        const spec = c.colors[color];
        if (spec) colors[color] = { release: spec.release };
    }
    return {
        stack,
        app: c.app,
        prefix,
        active,
        colors,
        components,
        incus: c.incus,
        artifacts: c.artifacts,
        haproxy: c.haproxy,
        health: c.health,
        cleanup: c.cleanup,
        migrations: c.migrations,
        ...(c.canary ? { canary: c.canary } : {}),
        ...(c.testStack ? { testStack: true } : {}),
        ...(prometheus ? { prometheus } : {}),
        stateful,
        hooks: c.hooks,
        ...(c.broadcast ? { broadcast: c.broadcast } : {}),
        ...(c.retain ? { retain: c.retain } : {}),
        ...(c.boot ? { boot: c.boot } : {}),
        ...(c.progressive ? { progressive: progressiveOf(c.progressive, c.canary) } : {}),
        ...(c.switch?.promotion === "manual"
            ? { switchGate: { gateTimeoutSeconds: c.switch.gateTimeoutSeconds ?? c.canary?.gateTimeoutSeconds ?? DEFAULT_GATE_TIMEOUT_SECONDS } }
            : {}),
        ...(c.adopt ? { adopt: true as const } : {}),
        ...(c.network?.mode === "routed" ? { network: c.network } : {}),
        ...(c.maintenance ? { maintenance: c.maintenance } : {}),
        ...(c.accessLog ? { accessLog: c.accessLog } : {}),
        ...(c.preview ? { preview: c.preview } : {}),
        ...(acme ? { acme } : {}),
    };
}

/** Pure: what config alone refuses of cluster placement and the routed network (the members' states are read at run time). */
function clusterProblems(c: z.infer<typeof schema>, components: readonly ComponentConfig[], stateful: readonly StatefulConfig[]): string[] {
    const problems: string[] = [];
    const members = c.incus.members;
    const pinned = (where: string, m: string | undefined) => {
        if (m !== undefined && members && !members.includes(m)) problems.push(`${where}: ${m} is not in bluegreen:incus.members (${members.join(", ")})`);
    };
    pinned(`${NAMESPACE}:haproxy.member`, c.haproxy.member);
    (c.incus.drain ?? []).forEach((m, i) => pinned(`${NAMESPACE}:incus.drain[${i}]`, m));
    for (const s of stateful) {
        pinned(`${NAMESPACE}:stateful.${s.name}.member`, s.member);
        if (s.member === undefined && members && members.length > 1) {
            problems.push(
                `${NAMESPACE}:stateful.${s.name}.member: expected the member its volumes live on (one of ${members.join(", ")}); a stateful service is pinned to one member of a cluster`,
            );
        }
    }
    for (const comp of components) {
        const where = `${NAMESPACE}:components.${comp.name}`;
        if (comp.allowReschedule && comp.spread === false) {
            problems.push(`${where}.allowReschedule: reschedules a spread pool; spread is false, so Incus's scheduler places its nodes. Remove one of the two`);
        }
        if (comp.spread && members?.length === 1) {
            problems.push(
                `${where}.spread: true needs two or more members; bluegreen:incus.members names one (${members[0]}). Add members or leave spread out`,
            );
        }
    }
    const net = c.network;
    if (net?.mode === "routed") {
        if (!c.incus.remote) {
            problems.push(
                `${NAMESPACE}:network.mode: routed needs bluegreen:incus.remote (a cluster or remote whose members route the addresses); on this host keep mode proxy`,
            );
        }
        if (c.haproxy.placement !== "incus") {
            problems.push(
                `${NAMESPACE}:network.mode: routed needs bluegreen:haproxy.placement: incus (HAProxy must be on the routed network to reach the nodes)`,
            );
        }
        const range = parseAddressRange(net.addresses);
        const need = addressesNeeded(components, stateful.length);
        if (typeof range !== "string" && rangeSize(range) < need) {
            problems.push(
                `${NAMESPACE}:network.addresses: ${formatRange(range)} has ${rangeSize(range)} addresses; the stack needs ${need} ` +
                    `(every node of both colors, HAProxy and each stateful service). Widen the range`,
            );
        }
    }
    return problems;
}

/** Pure: the shift's thresholds, its own where set, else the canary's, else the canary's defaults. */
function progressiveOf(p: z.infer<typeof progressiveSpec>, canary: CanarySpec | undefined): ProgressiveConfig {
    const base = canary ?? canarySpec.parse({});
    const { probeIntervalSeconds, p95Seconds, errorRatio, minRequests, failureLimit, inconclusiveLimit, promotion, gateTimeoutSeconds, ...rest } = p;
    return {
        ...rest,
        promotion: promotion ?? base.promotion ?? "auto",
        gateTimeoutSeconds: gateTimeoutSeconds ?? base.gateTimeoutSeconds ?? DEFAULT_GATE_TIMEOUT_SECONDS,
        probeIntervalSeconds: Math.min(probeIntervalSeconds ?? base.probeIntervalSeconds, p.stepSeconds),
        p95Seconds: p95Seconds ?? base.p95Seconds,
        errorRatio: errorRatio ?? base.errorRatio,
        minRequests: minRequests ?? base.minRequests,
        queries: base.queries,
        ...(base.metrics ? { metrics: base.metrics } : {}),
        failureLimit: failureLimit ?? base.failureLimit ?? 0,
        inconclusiveLimit: inconclusiveLimit ?? base.inconclusiveLimit ?? 0,
    };
}

/**
 * Turns Pulumi's flat config map (`bluegreen:key` -> string) into raw values.
 * Structured values arrive as JSON text; unknown namespaces are ignored.
 */
export function rawFromPulumiConfig(all: Record<string, string>, secretKeys: readonly string[] = []): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [key, text] of Object.entries(all)) {
        if (!key.startsWith(`${NAMESPACE}:`)) continue;
        const name = key.slice(NAMESPACE.length + 1);
        if (secretKeys.includes(key)) continue; // secrets are read through pulumi.Config, never validated as plain text
        raw[name] = parseValue(text);
    }
    return raw;
}

function parseValue(text: string): unknown {
    const t = text.trim();
    if (t.startsWith("{") || t.startsWith("[") || /^-?\d+$/.test(t) || t === "true" || t === "false") {
        try {
            return JSON.parse(t);
        } catch {
            return text;
        }
    }
    return text;
}

/** Keys that hold secrets and are read with pulumi.Config#getSecret, never validated as text. */
export const SECRET_KEYS = ["artifactToken", "secretEnv"] as const;

/**
 * Pure: the variable names of bluegreen:secretEnv, validated without ever putting a value
 * in a message. Values stay with the caller, which keeps them Pulumi secrets.
 */
export function secretEnvNames(text: string | undefined): { names: Record<string, string[]>; problems: string[] } {
    if (text === undefined) return { names: {}, problems: [] };
    const key = `${NAMESPACE}:secretEnv`;
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        return { names: {}, problems: [`${key}: expected a JSON object {"<component>": {"<VAR>": "<value>"}} (the value is not shown: it is a secret)`] };
    }
    const r = secretEnvSpec.safeParse(value);
    if (!r.success) return { names: {}, problems: r.error.issues.flatMap((i) => describe({ ...i, path: ["secretEnv", ...i.path] } as z.core.$ZodIssue)) };
    return { names: Object.fromEntries(Object.entries(r.data).map(([c, vars]) => [c, Object.keys(vars)])), problems: [] };
}

/** Pure: one component's secret variables out of bluegreen:secretEnv's (already validated) text. */
export function secretEnvOf(text: string, component: string): Record<string, string> {
    return (JSON.parse(text) as Record<string, Record<string, string>>)[component] ?? {};
}

/**
 * Reads and validates the running stack's config. Throws ConfigError before any
 * resource is declared, so nothing is touched on bad input.
 */
export function loadConfig(all: Record<string, string>, isSecret: (key: string) => boolean, stack: string): StackConfig {
    const problems: string[] = [];
    for (const k of SECRET_KEYS) {
        const key = `${NAMESPACE}:${k}`;
        if (key in all && !isSecret(key)) {
            problems.push(`${key}: expected a secret; set it with \`pulumi config set --secret ${key} <value>\``);
        }
    }
    const secretKeys = Object.keys(all).filter((k) => isSecret(k) && SECRET_KEYS.some((s) => k === `${NAMESPACE}:${s}`));
    const raw = rawFromPulumiConfig(all, secretKeys);
    for (const k of SECRET_KEYS) delete raw[k];
    for (const k of Object.values(TRUST_KEYS)) delete raw[k];
    delete raw[CERTIFICATES_KEY];
    const secrets = secretEnvNames(all[`${NAMESPACE}:secretEnv`]);
    problems.push(...secrets.problems);
    problems.push(...trustProblems(all, isSecret));
    const tls = certificateNames(all, isSecret);
    problems.push(...tls.problems);
    if (problems.length > 0) {
        // Report the secret problems together with any schema problems.
        try {
            parseConfig(raw, stack, secrets.names);
        } catch (e) {
            if (e instanceof ConfigError) problems.push(...e.problems);
        }
        throw new ConfigError(problems);
    }
    const config = parseConfig(raw, stack, secrets.names);
    const needed = (config.haproxy.listen ?? []).findIndex((l) => l.tls);
    if (needed >= 0 && tls.names.length === 0 && !config.acme) {
        throw new ConfigError([
            `${NAMESPACE}:haproxy.listen[${needed}]: tls: true needs certificates; set them with ` +
                `\`pulumi config set --secret ${NAMESPACE}:${CERTIFICATES_KEY} < bundle.pem\` (certificate chain and key, PEM), ` +
                `or order them with ${NAMESPACE}:tls.acme`,
        ]);
    }
    return tls.names.length ? { ...config, tlsCertificates: tls.names } : config;
}

/** Pure: bluegreen:tls.certificates' names; it must be a secret, and its problems never show a value. */
export function certificateNames(all: Record<string, string>, isSecret: (key: string) => boolean): { names: string[]; problems: string[] } {
    const key = `${NAMESPACE}:${CERTIFICATES_KEY}`;
    if (!(key in all)) return { names: [], problems: [] };
    if (!isSecret(key)) {
        return {
            names: [],
            problems: [`${key}: expected a secret; set it with \`pulumi config set --secret ${key} < bundle.pem\` (and remove the plain value)`],
        };
    }
    const r = parseCertificates(all[key], key);
    return { names: Object.keys(r.bundles).sort(), problems: r.problems };
}

/** The trust keys present, by field. */
function trustValues(all: Record<string, string>): Partial<Record<keyof typeof TRUST_KEYS, string>> {
    const v: Partial<Record<keyof typeof TRUST_KEYS, string>> = {};
    for (const [field, k] of Object.entries(TRUST_KEYS)) if (`${NAMESPACE}:${k}` in all) v[field as keyof typeof TRUST_KEYS] = all[`${NAMESPACE}:${k}`];
    return v;
}

/** Pure: the trust keys all or none, only with incus.remote, the key a secret, each the right shape. Never quotes a value. */
export function trustProblems(all: Record<string, string>, isSecret: (key: string) => boolean): string[] {
    const given = trustValues(all);
    const set = Object.keys(given) as (keyof typeof TRUST_KEYS)[];
    if (set.length === 0) return [];
    const problems: string[] = [];
    const keyKey = `${NAMESPACE}:${TRUST_KEYS.clientKey}`;
    if (keyKey in all && !isSecret(keyKey)) {
        problems.push(
            `${keyKey}: expected a secret; set it with \`pulumi config set --secret ${keyKey} < client.key\` (and remove the plain value from the stack file)`,
        );
    }
    const missing = (Object.keys(TRUST_KEYS) as (keyof typeof TRUST_KEYS)[]).filter((f) => !set.includes(f));
    if (missing.length > 0) {
        problems.push(
            `${NAMESPACE}:incus: ${set.map((f) => `${NAMESPACE}:${TRUST_KEYS[f]}`).join(", ")} set without ${missing.map((f) => `${NAMESPACE}:${TRUST_KEYS[f]}`).join(", ")}: set all four (or none, to use the runner's incus client config)`,
        );
    }
    const incus = parseValue(all[`${NAMESPACE}:incus`] ?? "");
    if (!(incus && typeof incus === "object" && typeof (incus as { remote?: unknown }).remote === "string")) {
        problems.push(
            `${NAMESPACE}:incus.remote: required with ${NAMESPACE}:${TRUST_KEYS[set[0]]}: the certificates are for a remote; name it (bluegreen:incus: {remote: <name>})`,
        );
    }
    const r = trustSpec.partial().safeParse(given);
    if (!r.success) for (const i of r.error.issues) problems.push(`${NAMESPACE}:${TRUST_KEYS[i.path[0] as keyof typeof TRUST_KEYS]}: ${i.message}`);
    return problems;
}

/** Pure: the trust from the stack's (decrypted) config, once loadConfig passed; undefined when not set. */
export function incusTrustOf(all: Record<string, string>, config: StackConfig): IncusTrust | undefined {
    const v = trustValues(all);
    if (!config.incus.remote || !v.address || !v.serverCert || !v.clientCert || !v.clientKey) return undefined;
    return { remote: config.incus.remote, address: v.address, serverCert: v.serverCert, clientCert: v.clientCert, clientKey: v.clientKey };
}
