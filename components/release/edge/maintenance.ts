// Maintenance mode in the running HAProxy (model/edge/maintenance.ts): the map file keeps the
// state across reloads, a runtime `set map` applies it at once, with no reload and nothing dropped.

import { HaproxyHost, describeHost, readHostFile, writeHostFile } from "../../io/haproxyHost";
import { progress } from "../../io/progress";
import { adminCommands, showProc } from "../../io/runtimeApi";
import * as crypto from "crypto";
import { maintenanceCommand, maintenanceMapText, parseMaintenanceMap, probeToken } from "../../model/edge/maintenance";
import { refusal } from "../../model/errors";
import type { HaproxyLayout } from "../../model/naming";
import { haproxyChannel } from "../../model/traffic/topology";
import { audit, auditTo } from "../safety/audit";

export interface MaintenanceInputs {
    readonly stack: string;
    readonly host: HaproxyHost;
    readonly layout: HaproxyLayout;
    readonly mapFile: string;
    readonly enabled: boolean;
    /** What the audit event says; the rule itself is the switch's config. */
    readonly allow: readonly string[];
    readonly broadcast?: string;
    readonly passEnv?: readonly string[];
}

export interface MaintenanceOutputs extends MaintenanceInputs {
    /** What the running HAProxy does: "on", "off", or "unknown" when it cannot be read. */
    readonly live: string;
}

/** Pure: the live state as the output words it. */
export function describeLive(on: boolean | undefined): string {
    return on === undefined ? "unknown" : on ? "on" : "off";
}

/** What the running HAProxy's map says; undefined when HAProxy is down or has no such map loaded. */
export async function readLiveMaintenance(i: Pick<MaintenanceInputs, "host" | "layout" | "mapFile">): Promise<boolean | undefined> {
    if (!(await showProc(haproxyChannel(i.host, i.layout, "master")).catch(() => undefined))) return undefined;
    const answer = await adminCommands(haproxyChannel(i.host, i.layout, "admin"), [`show map ${i.mapFile}`]).catch(() => undefined);
    return parseMaintenanceMap(answer);
}

/** A new secret for the switch's probes (model/edge/maintenance.ts PROBE_HEADER); it lives only in the map file. */
export function newProbeToken(): string {
    return crypto.randomBytes(16).toString("hex");
}

/** Writes the map, then sets it live; audited when it changes what HAProxy does. */
export async function applyMaintenance(i: MaintenanceInputs): Promise<MaintenanceOutputs> {
    const had = await readHostFile(i.host, i.mapFile);
    const token = probeToken(had) ?? newProbeToken();
    const want = maintenanceMapText(i.enabled, token);
    // The file first: a reload that comes between loads the new state.
    if (had !== want) await writeHostFile(i.host, i.mapFile, want);
    const before = await readLiveMaintenance(i);
    if (before === undefined) {
        throw refusal({
            what: `cannot set maintenance ${i.enabled ? "on" : "off"}: HAProxy on ${describeHost(i.host)} is not running or has not loaded ${i.mapFile}`,
            untouched: `${i.mapFile} says ${i.enabled ? "on" : "off"}, so HAProxy applies it when it next loads its config`,
            next: "Run pulumi up again (the haproxy resource starts HAProxy, the switch loads the maintenance rule)",
        });
    }
    // A map file lost by hand: the running HAProxy learns the new token too.
    if (!probeToken(had)) await adminCommands(haproxyChannel(i.host, i.layout, "admin"), [`add map ${i.mapFile} ${token} probe`]);
    if (before !== i.enabled) {
        await adminCommands(haproxyChannel(i.host, i.layout, "admin"), [maintenanceCommand(i.mapFile, i.enabled)]);
        progress(
            i.enabled
                ? `maintenance: on; HAProxy answers 503${i.allow.length ? ` except to ${i.allow.join(", ")}` : ""}`
                : "maintenance: off; traffic reaches the active color again",
        );
        await audit(auditTo(i.host, i.layout.stateDir, i.stack, i.broadcast, i.passEnv), {
            operation: "maintenance",
            details: { enabled: i.enabled, ...(i.allow.length ? { allow: i.allow.join(",") } : {}) },
        });
    }
    const live = await readLiveMaintenance(i);
    if (live !== i.enabled) throw new Error(`maintenance: HAProxy still says ${describeLive(live)} after setting ${i.enabled ? "on" : "off"}`);
    return { ...i, live: describeLive(live) };
}

/** The key left the config: the switch's reload drops the rule; the map file goes with it. */
export async function removeMaintenance(i: MaintenanceInputs): Promise<void> {
    const live = await readLiveMaintenance(i).catch(() => undefined);
    // Off first: if the switch has not dropped the rule yet (or failed to), traffic still flows.
    if (live) await applyMaintenance({ ...i, enabled: false });
    const had = await readHostFile(i.host, i.mapFile).catch(() => undefined);
    await writeHostFile(i.host, i.mapFile, maintenanceMapText(false, probeToken(had) ?? newProbeToken()));
}
