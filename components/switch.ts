// The switch (seed: veza_haproxy_switch): points HAProxy at the active color.
// render -> validate (`haproxy -c`) -> atomic swap keeping `.bak` -> apply (runtime
// weight flip, or master-worker reload when the config's shape changed) -> verify
// through the frontend -> record active-color and history. Any failure after the
// swap restores `.bak` and reloads, so the previous color keeps serving.

import * as pulumi from "@pulumi/pulumi";
import { clearActiveColor, readActiveColor, recordActiveColor } from "./activeColor";
import { refused } from "./errors";
import { HaproxyModel, configShape, desiredWeights, renderConfig } from "./haproxyConfig";
import { HaproxyHost, describeHost, readHostFile, removeHostFile, renameHostFile, validateConfig, writeHostFile } from "./haproxyHost";
import { probe, sleep } from "./health";
import { COLORS, Color, HaproxyLayout, haproxyBackendName } from "./naming";
import { progress } from "./progress";
import { assertColorReady } from "./rollback";
import { ServerState, adminCommands, reloadAndWait, servedColor, serversState, setWeightCommand, showProc } from "./runtimeApi";

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
    /** The active color's container, checked before traffic moves to it. */
    readonly container: string;
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
    readonly components: readonly SwitchComponent[];
    /** The Incus remote of the app containers. */
    readonly remote?: string;
    /** Per-probe timeout for health checks. */
    readonly timeoutMs: number;
    /** Bound for waiting on HAProxy: servers coming UP, the frontend serving the new color. */
    readonly settleMs: number;
}

export interface SwitchOutputs extends SwitchInputs {
    /** The color HAProxy's live weights send traffic to: a color, "mixed" or "none". */
    readonly served: string;
    /** The color the active-color file names, or "none". */
    readonly recorded: string;
}

export function modelOf(i: SwitchInputs): HaproxyModel {
    return {
        stack: i.stack,
        active: i.active,
        release: i.release,
        frontendPort: i.frontendPort,
        exporterPort: i.exporterPort,
        adminSocket: i.layout.adminSocket,
        pidFile: i.layout.pidFile,
        extra: i.extra,
        backends: i.components.map((c) => ({
            component: c.name,
            route: c.route,
            healthPath: c.healthPath,
            servers: COLORS.map((color) => ({ color, port: c.ports[color] })),
        })),
    };
}

/** Pure: runtime API commands that give the model's weights, raising before lowering. */
export function weightCommands(m: HaproxyModel): string[] {
    return desiredWeights(m)
        .sort((a, b) => b.weight - a.weight)
        .map((w) => setWeightCommand(w.backend, w.server, w.weight));
}

/** Pure: a path on the frontend that routes to the component. */
export function probePath(route: string): string {
    return route.length > 1 ? route.replace(/\/+$/, "") : "/";
}

function backendsOf(i: SwitchInputs): string[] {
    return i.components.map((c) => haproxyBackendName(c.name));
}

async function liveServed(i: SwitchInputs): Promise<{ running: boolean; served: Color | "mixed" | undefined; states: ServerState[] }> {
    if (!(await showProc(i.layout.hostMasterSocket))) return { running: false, served: undefined, states: [] };
    const states = await serversState(i.layout.hostAdminSocket);
    return { running: true, served: servedColor(states, backendsOf(i)), states };
}

/** Waits until HAProxy's own checks see every target server UP, so a flip never lands on a DOWN one. */
async function waitServersUp(i: SwitchInputs, known: readonly ServerState[]): Promise<void> {
    const wanted = backendsOf(i);
    const deadline = Date.now() + i.settleMs;
    let down: string[] = [];
    let states = known;
    while (Date.now() < deadline) {
        down = wanted.filter((b) => !states.some((s) => s.backend === b && s.server === i.active && s.opState === 2));
        if (down.length === 0) return;
        await sleep(100);
        states = await serversState(i.layout.hostAdminSocket);
    }
    throw new Error(`HAProxy's health checks did not see ${i.active} UP in ${down.join(", ")} within ${i.settleMs} ms`);
}

/** Polls the frontend until every component answers from the active color. */
async function verifyServing(i: SwitchInputs): Promise<void> {
    const deadline = Date.now() + i.settleMs;
    const pending = new Set(i.components.map((c) => c.name));
    let last = "";
    while (Date.now() < deadline) {
        for (const c of i.components) {
            if (!pending.has(c.name)) continue;
            const r = await probe(`http://127.0.0.1:${i.frontendPort}${probePath(c.route)}`, i.timeoutMs);
            if (r.color === i.active) pending.delete(c.name);
            else last = `${c.name} answered HTTP ${r.status} from ${r.color ?? "no color"}`;
        }
        if (pending.size === 0) return;
        await sleep(20);
    }
    throw new Error(`the frontend did not serve ${i.active} within ${i.settleMs} ms (${last})`);
}

/** Pure: the color a rendered config's header names ("none" when it names none). */
export function fileActive(text: string): string {
    return /^# active: (\S+)/m.exec(text)?.[1] ?? "none";
}

/** Pure: whether the running HAProxy has exactly the model's servers, so weights alone can switch. */
export function runsModel(states: readonly ServerState[], m: HaproxyModel): boolean {
    const key = (b: string, s: string) => `${b}/${s}`;
    const live = new Set(states.filter((s) => s.backend.startsWith("be_") && s.backend !== "be_no_route").map((s) => key(s.backend, s.server)));
    const want = new Set(desiredWeights(m).map((w) => key(w.backend, w.server)));
    return live.size === want.size && [...want].every((k) => live.has(k));
}

function outputs(i: SwitchInputs, served: string, recorded: string): SwitchOutputs {
    return { ...i, served, recorded };
}

/** Applies the switch. Idempotent: the same state again is a no-op with no reload. */
async function apply(i: SwitchInputs): Promise<SwitchOutputs> {
    const started = Date.now();
    const L = i.layout;
    const targets = i.components.map((c) => ({ container: c.container, port: c.ports[i.active], healthPath: c.healthPath, release: i.release }));
    const model = modelOf(i);
    const text = renderConfig(model);
    const candidate = `${L.configPath}.new`;
    const discard = () => removeHostFile(i.host, candidate).catch(() => undefined);

    // Everything before the swap only reads, or writes the candidate beside the live
    // config, so it runs at once: this is the switch's critical path.
    const validation = (async () => {
        await writeHostFile(i.host, candidate, text);
        return validateConfig(i.host, candidate);
    })();
    let before: Awaited<ReturnType<typeof liveServed>>;
    let current: string | undefined;
    let recorded: Color | undefined;
    let v: Awaited<typeof validation>;
    try {
        [, before, current, recorded, v] = await Promise.all([
            assertColorReady({ remote: i.remote }, i.active, targets, i.timeoutMs),
            liveServed(i),
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

    if (!before.running) {
        await discard();
        throw new Error(`HAProxy is not running on ${describeHost(i.host)}; run pulumi up again (the haproxy resource starts it). Nothing was changed.`);
    }
    const previous = before.served ?? recorded ?? "no color";
    if (current === text && before.served === i.active && recorded === i.active) {
        await discard();
        progress(`switch: ${i.active} already serves; nothing to do`);
        return outputs(i, i.active, i.active);
    }
    if (v.code !== 0) {
        await discard();
        throw refused(
            `HAProxy rejected the rendered config: ${(v.stderr.trim() || v.stdout.trim()).slice(0, 1500)}. ` +
                `Nothing was changed; ${previous} still serves. Fix the setting that produced it (often bluegreen:haproxy.extra) and run pulumi up again.`,
        );
    }
    // .bak keeps the config that serves. After an interrupted run the file may name a color
    // that never served; then the older .bak is still the right one to fall back to.
    if (current !== undefined && current !== text && fileActive(current) === (before.served ?? "none")) {
        await writeHostFile(i.host, `${L.configPath}.bak`, current);
    }
    await renameHostFile(i.host, candidate, L.configPath);
    progress(`switch: new config validated and swapped in (previous kept as ${L.configPath}.bak)`);

    try {
        const hot = i.method === "runtime" && current !== undefined && configShape(current) === configShape(text) && runsModel(before.states, model);
        if (hot) {
            await waitServersUp(i, before.states);
            await adminCommands(L.hostAdminSocket, weightCommands(model));
            progress(`switch: weights flipped to ${i.active} over the runtime API`);
        } else {
            await reloadAndWait(L.hostMasterSocket, i.settleMs);
            progress(`switch: haproxy reloaded (master-worker)`);
        }
        await verifyServing(i);
    } catch (e) {
        return restore(i, e as Error, text, previous);
    }
    await recordActiveColor(i.host, L.stateDir, i.active, i.release);
    progress(`switch: ${i.active} (${i.release}) serves traffic, ${Date.now() - started} ms`);
    return outputs(i, i.active, i.active);
}

/** Puts `.bak` back and reloads, then fails the step: the previous color keeps serving. */
async function restore(i: SwitchInputs, cause: Error, attempted: string, previous: string): Promise<never> {
    const L = i.layout;
    const bak = await readHostFile(i.host, `${L.configPath}.bak`);
    if (bak === undefined || bak === attempted) {
        throw new Error(`switch to ${i.active} failed: ${cause.message}. There is no previous config to restore; check haproxy on ${describeHost(i.host)}.`);
    }
    progress(`switch: failed (${cause.message}); restoring ${L.configPath}.bak`);
    try {
        await writeHostFile(i.host, L.configPath, bak);
        await reloadAndWait(L.hostMasterSocket, i.settleMs);
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

const WATCHED: readonly (keyof SwitchInputs)[] = [
    "stack",
    "host",
    "layout",
    "method",
    "active",
    "release",
    "frontendPort",
    "exporterPort",
    "extra",
    "components",
    "remote",
];

export const switchProvider: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: SwitchOutputs, news: SwitchInputs) {
        const changed = WATCHED.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        // A flip made by hand (found by refresh) makes the next `up` switch back.
        const drift = olds.served !== news.active || olds.recorded !== news.active;
        return { changes: changed.length > 0 || drift, replaces: [] };
    },

    async create(inputs: SwitchInputs) {
        return { id: `${inputs.stack}-switch`, outs: await apply(inputs) };
    },

    async update(_id: string, _olds: SwitchOutputs, news: SwitchInputs) {
        return { outs: await apply(news) };
    },

    /** Takes traffic off every color and clears the record, so the colors can be deleted. */
    async delete(_id: string, props: SwitchOutputs) {
        if (await showProc(props.layout.hostMasterSocket)) {
            const zero = weightCommands({ ...modelOf(props), active: undefined });
            await adminCommands(props.layout.hostAdminSocket, zero).catch((e) => progress(`switch: could not zero weights: ${(e as Error).message}`));
        }
        await clearActiveColor(props.host, props.layout.stateDir);
        progress("switch: removed; no color serves traffic");
    },

    async read(id: string, props: SwitchOutputs) {
        const live = await liveServed(props).catch(() => ({ running: false, served: undefined }));
        const recorded = (await readActiveColor(props.host, props.layout.stateDir).catch(() => undefined)) ?? "none";
        const served = live.served ?? "none";
        const active = served === "blue" || served === "green" ? served : props.active;
        const { served: _s, recorded: _r, ...inputs } = props;
        return { id, props: { ...props, active, served, recorded }, inputs: { ...inputs, active } };
    },
};

export type SwitchArgs = { readonly [K in keyof SwitchInputs]: pulumi.Input<SwitchInputs[K]> };

/** The active-color switch in HAProxy. */
export class Switch extends pulumi.dynamic.Resource {
    declare public readonly active: pulumi.Output<Color>;
    declare public readonly served: pulumi.Output<string>;
    declare public readonly recorded: pulumi.Output<string>;

    constructor(name: string, args: SwitchArgs, opts?: pulumi.CustomResourceOptions) {
        super(switchProvider, name, { ...args, served: undefined, recorded: undefined }, opts);
    }
}
