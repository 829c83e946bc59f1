// Maintenance mode (bluegreen:maintenance): HAProxy answers 503 on every route, except to
// allowed client addresses. Pure. Whether it is on is one key of a map file, so turning it
// on or off is a runtime `set map` (no reload, nothing dropped); the file keeps it across reloads.

import { z } from "zod";

/** An IPv4 address or CIDR block, as HAProxy's `src` ACL reads it. */
const IPV4_CIDR = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\/([12]?\d|3[0-2]))?$/;

export const DEFAULT_MAINTENANCE_MESSAGE = "Down for maintenance. Please try again later.";
export const DEFAULT_RETRY_AFTER_S = 300;
/** Set on the maintenance answer, so a client (and a test) tells it from an app's 503. */
export const MAINTENANCE_HEADER = "x-bluegreen-maintenance";

export const maintenanceSpec = z.strictObject({
    enabled: z.boolean("expected true or false"),
    message: z
        .string()
        .regex(/^[^"\\\r\n\0%]{1,500}$/, "expected up to 500 characters on one line, without quotes, backslashes or %")
        .default(DEFAULT_MAINTENANCE_MESSAGE),
    retryAfterSeconds: z
        .int("expected whole seconds")
        .min(1, "expected at least 1 second")
        .max(86_400, "expected at most 86400 seconds")
        .default(DEFAULT_RETRY_AFTER_S),
    allow: z.array(z.string().regex(IPV4_CIDR, "expected an IPv4 address or CIDR block such as 10.0.0.0/8")).default([]),
});

export type MaintenanceSpec = z.infer<typeof maintenanceSpec>;

/** What the rendered config needs: the text and the allow-list are config; `enabled` lives in `mapFile`. */
export interface MaintenanceModel {
    readonly mapFile: string;
    readonly message: string;
    readonly retryAfterSeconds: number;
    readonly allow: readonly string[];
}

/** The map key whose value (`on`/`off`) says whether maintenance is on. */
export const ENABLED_KEY = "enabled";
/**
 * The switch's own probes carry this header with the map's secret token (a key whose value is
 * PROBE_VALUE), so a switch verifies the color that serves while everyone else gets 503.
 */
export const PROBE_HEADER = "x-bluegreen-probe";
export const PROBE_VALUE = "probe";
const TOKEN = /^[0-9a-f]{32}$/;

export function maintenanceMapPath(layout: { readonly stateDir: string }): string {
    return `${layout.stateDir}/maintenance.map`;
}

/**
 * Pure: the fe_main lines, first of its rules. A missing key reads as off, so a file
 * cut short never stops traffic.
 */
export function maintenanceLines(m: MaintenanceModel): string[] {
    const allowed = m.allow.length > 0 ? ` !{ src ${m.allow.join(" ")} }` : "";
    return [
        `http-request return status 503 content-type "text/plain; charset=utf-8" string "${m.message}\\n" ` +
            `hdr Retry-After ${m.retryAfterSeconds} hdr ${MAINTENANCE_HEADER} on ` +
            `if { str(${ENABLED_KEY}),map(${m.mapFile},off) -m str on } !{ req.hdr(${PROBE_HEADER}),map(${m.mapFile},-) -m str ${PROBE_VALUE} }${allowed}`,
    ];
}

/** Pure: the map file's text: the flag, and the probes' token (32 hex digits, made by the caller). */
export function maintenanceMapText(enabled: boolean, token: string): string {
    if (!TOKEN.test(token)) throw new Error("maintenanceMapText: the probe token must be 32 hex digits");
    return `${ENABLED_KEY} ${enabled ? "on" : "off"}\n${token} ${PROBE_VALUE}\n`;
}

/** Pure: the probes' token a map file holds, if any. */
export function probeToken(text: string | undefined): string | undefined {
    for (const line of (text ?? "").split("\n")) {
        const [key, value] = line.trim().split(/\s+/);
        if (value === PROBE_VALUE && TOKEN.test(key ?? "")) return key;
    }
    return undefined;
}

/** Pure: whether a map file (or `show map` output) says maintenance is on; undefined when it says nothing. */
export function parseMaintenanceMap(text: string | undefined): boolean | undefined {
    for (const line of (text ?? "").split("\n")) {
        const f = line.trim().split(/\s+/);
        // `show map` prefixes each entry with its reference: `0x55d... enabled on`.
        const [key, value] = /^0x[0-9a-f]+$/.test(f[0] ?? "") ? f.slice(1) : f;
        if (key === ENABLED_KEY && (value === "on" || value === "off")) return value === "on";
    }
    return undefined;
}

/** Pure: the runtime API command that turns it on or off in the running HAProxy. */
export function maintenanceCommand(mapFile: string, enabled: boolean): string {
    return `set map ${mapFile} ${ENABLED_KEY} ${enabled ? "on" : "off"}`;
}

/** What `status` shows of maintenance: the live flag, what config asks, and who set it when (the audit log). */
export interface MaintenanceView {
    /** What the running HAProxy does: on, off, or unknown when it cannot be read. */
    readonly live: "on" | "off" | "unknown";
    /** What bluegreen:maintenance.enabled asks. */
    readonly config: "on" | "off";
    readonly allow: readonly string[];
    /** The last maintenance audit event that set the live state: when, and by whom. */
    readonly since?: string;
    readonly by?: string;
}

/** Pure: the view from the spec, the live flag and the audit events (oldest first). */
export function maintenanceView(
    spec: Pick<MaintenanceSpec, "enabled" | "allow">,
    live: boolean | undefined,
    events: readonly { readonly time: string; readonly performer: string; readonly operation: string; readonly details: Readonly<Record<string, unknown>> }[],
): MaintenanceView {
    const set = [...events].reverse().find((e) => e.operation === "maintenance" && (live === undefined || e.details.enabled === live));
    return {
        live: live === undefined ? "unknown" : live ? "on" : "off",
        config: spec.enabled ? "on" : "off",
        allow: spec.allow,
        ...(set ? { since: set.time, by: set.performer } : {}),
    };
}

/** Pure: the status line. */
export function describeMaintenanceView(v: MaintenanceView): string {
    const when = v.since ? ` since ${v.since} by ${v.by}` : "";
    const allow = v.live === "on" ? (v.allow.length ? `, allowed: ${v.allow.join(", ")}` : ", no address allowed") : "";
    const drift = v.live !== v.config ? `  << config says ${v.config}; run \`up\` to apply it` : "";
    return `maintenance: ${v.live}${when}${allow}${drift}`;
}
