// The offline engine. Runs the program under pulumi.runtime.setMocks and performs
// each registered resource's step as the Pulumi engine would, in the same order:
// check, diff, then create / update / replace (honouring `replaces` and
// `deleteBeforeReplace`), and at the end deletes what left the program in reverse
// order. Dynamic providers are loaded from their serialized `__provider` text
// exactly as @pulumi/pulumi's dynamic-provider host does.

import * as pulumi from "@pulumi/pulumi";
import { commandProvider } from "./commandProvider";
import { describeDiff, diffKeys } from "./diff";
import type { Project, StackConfig } from "./project";
import { SECRET_SIG, SIG_KEY, isSecretWrapper } from "./secrets";
import { ResourceState, SecretBox, StackState, containsSecrets, saveState } from "./state";

const requireFromString: (code: string) => { handler: () => pulumi.dynamic.ResourceProvider } = require("require-from-string");
// Internal SDK modules: the version is pinned in package.json for this reason.
const settings = require("@pulumi/pulumi/runtime/settings");
const stackModule = require("@pulumi/pulumi/runtime/stack");

export const DYNAMIC_TYPE = "pulumi-nodejs:dynamic:Resource";
export const COMMAND_TYPE = "command:local:Command";
const PROVIDER_KEY = "__provider";

export type Op = "create" | "update" | "replace" | "delete" | "same" | "read" | "refresh";

export interface StepRecord {
    readonly op: Op;
    readonly urn: string;
    readonly name: string;
    readonly ok: boolean;
    readonly error?: string;
    readonly changes?: string[];
}

export interface RunResult {
    readonly ok: boolean;
    readonly steps: StepRecord[];
    readonly errors: string[];
    readonly outputs: Record<string, unknown>;
}

export interface Reporter {
    line(text: string): void;
}

interface CapturedRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getDependenciesList(): string[];
    getDeletebeforereplace(): boolean;
    getAdditionalsecretoutputsList(): string[];
    getRetainondelete?(): boolean;
}

// ---- secrets: the provider sees plaintext; state and program see wrappers ----

export function unwrapSecrets(v: unknown): unknown {
    if (isSecretWrapper(v)) return unwrapSecrets(v.value);
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    return v;
}

function wrap(value: unknown): unknown {
    return { [SIG_KEY]: SECRET_SIG, value };
}

/** Top-level keys that must stay secret: secret inputs, and additionalSecretOutputs. */
function secretKeysOf(inputs: Record<string, unknown>, additional: readonly string[]): Set<string> {
    const keys = new Set(additional);
    for (const [k, v] of Object.entries(inputs)) if (containsSecrets(v)) keys.add(k);
    return keys;
}

function wrapKeys(o: Record<string, unknown>, keys: Set<string>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, keys.has(k) && v !== undefined && !isSecretWrapper(v) ? wrap(v) : v]));
}

/** Round-trips through JSON like the gRPC Struct the real host receives (drops undefined). */
function plain<T>(v: T): T {
    return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

// ---- providers ----

const providerCache = new Map<string, pulumi.dynamic.ResourceProvider>();

export function providerFor(type: string, props: Record<string, unknown>): pulumi.dynamic.ResourceProvider {
    if (type === COMMAND_TYPE) return commandProvider;
    if (type !== DYNAMIC_TYPE) {
        throw new Error(`resource type ${type} needs a provider plugin, which the offline runner cannot load; use the Pulumi CLI for it`);
    }
    const text = props[PROVIDER_KEY];
    if (typeof text !== "string") throw new Error("dynamic resource without a serialized __provider");
    let provider = providerCache.get(text);
    if (!provider) {
        provider = requireFromString(text).handler();
        providerCache.set(text, provider);
    }
    return provider;
}

function errorText(e: unknown): string {
    const m = (e as { message?: unknown } | undefined)?.message;
    return typeof m === "string" ? m : String(e);
}

/** Mirrors MockMonitor.newUrn so URNs match what the program sees. */
function newUrn(stack: string, project: string, parent: string | undefined, type: string, name: string): string {
    let t = type;
    if (parent) {
        const parentType = parent.split("::")[2].split("$").pop();
        t = `${parentType}$${type}`;
    }
    return `urn:pulumi:${[stack, project, t, name].join("::")}`;
}

export interface EngineOptions {
    readonly project: Project;
    readonly stack: string;
    readonly config: StackConfig;
    readonly state: StackState;
    readonly box: SecretBox;
    readonly stateFile: string;
    readonly preview: boolean;
    readonly reporter: Reporter;
}

export class Engine {
    private readonly old = new Map<string, ResourceState>();
    private readonly oldOrder: string[];
    private pendingDeletes: ResourceState[];
    private readonly next: ResourceState[] = [];
    private readonly seen = new Set<string>();
    private readonly steps: StepRecord[] = [];
    private readonly errors: string[] = [];
    private readonly stepMessages: string[] = [];
    private readonly inflight = new Set<Promise<unknown>>();
    private captured?: CapturedRequest;

    constructor(private readonly o: EngineOptions) {
        for (const r of o.state.resources) if (!r.pendingDelete) this.old.set(r.urn, r);
        this.oldOrder = o.state.resources.filter((r) => !r.pendingDelete).map((r) => r.urn);
        this.pendingDeletes = o.state.resources.filter((r) => r.pendingDelete);
    }

    private say(text: string): void {
        if (text) this.o.reporter.line(text);
    }

    /** Records a failed step; an existing resource that was not deleted stays in state as it was. */
    private note(urn: string, name: string, op: Op, e: unknown, keep?: ResourceState): void {
        const msg = errorText(e);
        if (keep && this.old.has(urn) && !this.next.some((x) => x.urn === urn)) this.record(keep);
        this.stepMessages.push(msg);
        this.errors.push(`${name}: ${op} failed: ${msg}`);
        this.steps.push({ op, urn, name, ok: false, error: msg });
        this.say(`  ✗ ${name}: ${op} failed: ${msg}`);
    }

    private fail(urn: string, name: string, op: Op, e: unknown, keep?: ResourceState): never {
        this.note(urn, name, op, e, keep);
        throw e instanceof Error ? e : new Error(errorText(e));
    }

    /** Writes what is known right now: new results, old resources not yet visited, pending deletes. */
    private persist(outputs?: Record<string, unknown>): void {
        if (this.o.preview) return;
        const rest = this.oldOrder.filter((u) => !this.seen.has(u) && this.old.has(u)).map((u) => this.old.get(u)!);
        this.o.state.resources = [...this.next, ...rest, ...this.pendingDeletes];
        if (outputs) this.o.state.outputs = outputs;
        saveState(this.o.stateFile, this.o.state, this.o.box);
    }

    private record(r: ResourceState): void {
        const i = this.next.findIndex((x) => x.urn === r.urn);
        if (i >= 0) this.next.splice(i, 1);
        this.next.push(r);
        this.persist();
    }

    /** Runs the program and every step it implies. */
    async run(): Promise<RunResult> {
        const { project, stack, config, preview } = this.o;
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => this.track(this.newResource(args)),
                call: (args) => {
                    throw new Error(`function ${args.token} is not supported by the offline runner`);
                },
            },
            project.name,
            stack,
            preview,
        );
        const monitor = settings.getMonitor();
        const original = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req: CapturedRequest, cb: unknown) => {
            this.captured = req; // MockMonitor calls newResource synchronously with this request
            return original(req, cb);
        };
        pulumi.runtime.setAllConfig(config.values, config.secretKeys);

        const programErrors: string[] = [];
        const onRejection = (e: unknown) => {
            const msg = errorText(e);
            // A failed step also fails the program's outputs; report each cause once.
            if (!this.stepMessages.some((m) => msg.includes(m)) && !programErrors.includes(msg)) programErrors.push(msg);
        };
        process.on("unhandledRejection", onRejection);
        let outputs: Record<string, unknown> = {};
        let exported: Record<string, unknown> = {};
        try {
            outputs = (await stackModule.runInPulumiStack(async () => {
                exported = require(project.main);
                return exported;
            })) ?? {};
        } catch (e) {
            onRejection(e);
        }
        // The stack resolves outputs to plain values; secret ones must stay secret in state and on screen.
        const secretOutputs = new Set<string>();
        for (const [k, v] of Object.entries(exported ?? {})) {
            if (!pulumi.Output.isInstance(v)) continue;
            // An output that depends on a failed resource may never settle: do not wait for it forever.
            const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref());
            if (await Promise.race([pulumi.isSecret(v).catch(() => false), timeout])) secretOutputs.add(k);
        }
        await settings.waitForRPCs().catch(onRejection);
        while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
        await new Promise((r) => setImmediate(r));
        process.off("unhandledRejection", onRejection);

        for (const m of programErrors) if (!this.stepMessages.some((x) => m.includes(x))) this.errors.push(m);
        outputs = wrapKeys(plain(filterOutputs(outputs)) ?? {}, secretOutputs);

        if (this.errors.length === 0) {
            await this.deleteRemoved();
        } else if (!preview) {
            this.say("  deletes skipped: the update failed, so resources that left the program are kept");
        }
        if (!preview && this.errors.length === 0) this.persist(outputs);
        else this.persist();
        return { ok: this.errors.length === 0, steps: this.steps, errors: this.errors, outputs: this.errors.length === 0 ? outputs : this.o.state.outputs };
    }

    /** Preview: records the step it would take and returns what the program should see. */
    private planned<T>(op: Op, urn: string, name: string, changes: string[], result: T): T {
        this.steps.push({ op, urn, name, ok: true, changes });
        return result;
    }

    private track<T>(p: Promise<T>): Promise<T> {
        this.inflight.add(p);
        const done = () => this.inflight.delete(p);
        p.then(done, done);
        return p;
    }

    private async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        const req = this.captured;
        this.captured = undefined;
        const matches = req && req.getType() === args.type && req.getName() === args.name;
        const parent = matches ? req!.getParent() || undefined : undefined;
        const urn = newUrn(this.o.stack, this.o.project.name, parent, args.type, args.name);
        const dependencies = matches ? req!.getDependenciesList() : [];
        this.seen.add(urn);

        if (!args.custom) {
            this.record({ urn, type: args.type, name: args.name, custom: false, parent, inputs: {}, outputs: {}, dependencies });
            return { id: undefined, state: {} };
        }

        const inputs = plain(args.inputs ?? {}) as Record<string, unknown>;
        const secretKeys = secretKeysOf(inputs, matches ? req!.getAdditionalsecretoutputsList() : []);
        const news = unwrapSecrets(inputs) as Record<string, unknown>;
        const old = this.old.get(urn);
        const name = args.name;
        let provider: pulumi.dynamic.ResourceProvider;
        try {
            provider = providerFor(args.type, news);
        } catch (e) {
            return this.fail(urn, name, old ? "update" : "create", e, old);
        }

        // check
        let checked = news;
        if (provider.check) {
            const c = await provider.check(old ? (unwrapSecrets(old.inputs) as Record<string, unknown>) : {}, news).catch((e) => this.fail(urn, name, old ? "update" : "create", e, old));
            if (c.failures && c.failures.length > 0) {
                return this.fail(urn, name, old ? "update" : "create", new Error(`invalid inputs: ${c.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`), old);
            }
            checked = { ...(c.inputs ?? news) };
        }
        if (PROVIDER_KEY in news) checked[PROVIDER_KEY] = news[PROVIDER_KEY];
        checked = plain(checked);

        const base = { urn, type: args.type, name, custom: true, parent, dependencies };
        const storedInputs = wrapKeys(checked, secretKeys);
        const toProgram = (r: ResourceState): pulumi.runtime.MockResourceResult => ({ id: r.id, state: wrapKeys(r.outputs, secretKeys) });

        if (!old) {
            this.say(`  + ${name}: create`);
            if (this.o.preview) return this.planned("create", urn, name, diffKeys({}, checked), { id: undefined, state: wrapKeys(checked, secretKeys) });
            return toProgram(await this.create(provider, base, checked, storedInputs, secretKeys));
        }

        const oldOutputs = unwrapSecrets(old.outputs) as Record<string, unknown>;
        let changes: boolean | undefined;
        let replaces: string[] = [];
        let dbr = matches ? req!.getDeletebeforereplace() : false;
        if (provider.diff) {
            const d = await provider.diff(old.id ?? "", oldOutputs, checked).catch((e) => this.fail(urn, name, "update", e, old));
            changes = d.changes;
            replaces = d.replaces ?? [];
            dbr = dbr || !!d.deleteBeforeReplace;
        }
        const oldInputs = unwrapSecrets(old.inputs) as Record<string, unknown>;
        const changed = diffKeys(oldInputs, checked);
        // Shown against the old outputs, as the CLI does, so drift found by refresh is visible.
        const shown = Object.fromEntries(Object.keys({ ...oldInputs, ...checked }).map((k) => [k, k in oldOutputs ? oldOutputs[k] : oldInputs[k]]));
        if (changes === undefined) changes = changed.length > 0;
        if (old.initErrors && old.initErrors.length > 0) changes = true; // the engine always retries a failed init

        if (replaces.length > 0) {
            this.say(`  +- ${name}: replace${dbr ? " (delete first)" : ""}`);
            this.say(describeDiff(shown, checked, replaces, "      ", secretKeys));
            if (this.o.preview) return this.planned("replace", urn, name, changed, { id: old.id, state: wrapKeys({ ...oldOutputs, ...checked }, secretKeys) });
            if (dbr) {
                try {
                    await this.destroyOne(old, "replace");
                } catch (e) {
                    return this.fail(urn, name, "replace", e, old);
                }
                this.old.delete(urn);
                this.persist();
            } else {
                this.pendingDeletes.push({ ...old, pendingDelete: true });
                this.old.delete(urn);
            }
            const created = await this.create(provider, base, checked, storedInputs, secretKeys, "replace");
            return toProgram(created);
        }
        if (!changes) {
            this.steps.push({ op: "same", urn, name, ok: true });
            const same: ResourceState = { ...old, ...base, inputs: storedInputs };
            if (!this.o.preview) this.record(same);
            return toProgram(same);
        }

        this.say(`  ~ ${name}: update`);
        this.say(describeDiff(shown, checked, [], "      ", secretKeys) || "      (live state differs; the provider will reconcile it)");
        if (this.o.preview) return this.planned("update", urn, name, changed, { id: old.id, state: wrapKeys({ ...oldOutputs, ...checked }, secretKeys) });
        try {
            const r = provider.update ? (await provider.update(old.id ?? "", oldOutputs, checked)) ?? {} : {};
            // Like the real host: without `update`, the outputs are whatever update returned (nothing).
            const outs = plain({ ...(r.outs ?? {}), ...(PROVIDER_KEY in checked ? { [PROVIDER_KEY]: checked[PROVIDER_KEY] } : {}) });
            const updated: ResourceState = { ...base, id: old.id, inputs: storedInputs, outputs: wrapKeys(outs, secretKeys) };
            this.record(updated);
            this.steps.push({ op: "update", urn, name, ok: true, changes: changed });
            return toProgram(updated);
        } catch (e) {
            const id = (e as { id?: string }).id;
            if (id) {
                const props = plain((e as { properties?: Record<string, unknown> }).properties ?? oldOutputs);
                this.record({ ...base, id, inputs: storedInputs, outputs: wrapKeys({ ...props, [PROVIDER_KEY]: checked[PROVIDER_KEY] }, secretKeys), initErrors: [errorText(e)] });
            }
            return this.fail(urn, name, "update", e, old);
        }
    }

    private async create(
        provider: pulumi.dynamic.ResourceProvider,
        base: Pick<ResourceState, "urn" | "type" | "name" | "custom" | "parent" | "dependencies">,
        news: Record<string, unknown>,
        storedInputs: Record<string, unknown>,
        secretKeys: Set<string>,
        op: Op = "create",
    ): Promise<ResourceState> {
        const withProvider = (o: Record<string, unknown> | undefined) => plain({ ...(o ?? {}), ...(PROVIDER_KEY in news ? { [PROVIDER_KEY]: news[PROVIDER_KEY] } : {}) });
        try {
            const r = await provider.create(news);
            const created: ResourceState = { ...base, id: r.id, inputs: storedInputs, outputs: wrapKeys(withProvider(r.outs), secretKeys) };
            this.record(created);
            this.steps.push({ op, urn: base.urn, name: base.name, ok: true });
            return created;
        } catch (e) {
            const id = (e as { id?: string }).id;
            if (id) {
                // A partial failure: the resource exists, so state keeps it under its id.
                const props = (e as { properties?: Record<string, unknown> }).properties ?? news;
                this.record({ ...base, id, inputs: storedInputs, outputs: wrapKeys(withProvider(props), secretKeys), initErrors: [errorText(e)] });
            }
            return this.fail(base.urn, base.name, op, e);
        }
    }

    private async destroyOne(r: ResourceState, op: Op = "delete"): Promise<void> {
        if (!r.custom) return;
        const outputs = unwrapSecrets(r.outputs) as Record<string, unknown>;
        const provider = providerFor(r.type, outputs);
        if (provider.delete) await provider.delete(r.id ?? "", outputs);
        if (op === "delete") this.steps.push({ op: "delete", urn: r.urn, name: r.name, ok: true });
    }

    /** Deletes resources that left the program, dependents first, then leftover replacements. */
    private async deleteRemoved(): Promise<void> {
        const removed = deletionOrder(this.oldOrder.filter((u) => !this.seen.has(u) && this.old.has(u)).map((u) => this.old.get(u)!));
        const steps: [ResourceState, string, () => void][] = [
            ...removed.map((r): [ResourceState, string, () => void] => [r, "delete", () => this.old.delete(r.urn)]),
            ...this.pendingDeletes.map((r): [ResourceState, string, () => void] => [
                r,
                "delete (replaced)",
                () => (this.pendingDeletes = this.pendingDeletes.filter((x) => x !== r)),
            ]),
        ];
        for (const [r, label, forget] of steps) {
            if (r.custom) this.say(`  - ${r.name}: ${label}`);
            if (this.o.preview) {
                if (r.custom) this.planned("delete", r.urn, r.name, [], undefined);
                continue;
            }
            try {
                await this.destroyOne(r);
            } catch (e) {
                this.note(r.urn, r.name, "delete", e);
                return; // stop deleting; the rest stays in state
            }
            forget();
            this.persist();
        }
    }

    /** `destroy`: every resource, dependents first. Stops at the first refusal. */
    async destroyAll(): Promise<RunResult> {
        const all = deletionOrder(this.o.state.resources);
        for (const r of all) {
            if (r.custom) this.say(`  - ${r.name}: delete`);
            if (this.o.preview) continue;
            try {
                await this.destroyOne(r);
            } catch (e) {
                this.note(r.urn, r.name, "delete", e);
                break;
            }
            this.o.state.resources = this.o.state.resources.filter((x) => x !== r);
            saveState(this.o.stateFile, this.o.state, this.o.box);
        }
        if (!this.o.preview && this.errors.length === 0) {
            this.o.state.outputs = {};
            saveState(this.o.stateFile, this.o.state, this.o.box);
        }
        return { ok: this.errors.length === 0, steps: this.steps, errors: this.errors, outputs: {} };
    }

    /** `refresh`: asks each provider for live state; an empty id means the resource is gone. */
    async refreshAll(): Promise<RunResult> {
        const kept: ResourceState[] = [];
        for (const r of this.o.state.resources) {
            if (!r.custom) {
                kept.push(r);
                continue;
            }
            const outputs = unwrapSecrets(r.outputs) as Record<string, unknown>;
            const provider = providerFor(r.type, outputs);
            if (!provider.read) {
                kept.push(r);
                continue;
            }
            try {
                const live = await provider.read(r.id ?? "", outputs);
                if (!live.id) {
                    this.say(`  - ${r.name}: gone (deleted outside Pulumi)`);
                    this.steps.push({ op: "refresh", urn: r.urn, name: r.name, ok: true, changes: ["(deleted)"] });
                    continue;
                }
                const props = plain({ ...(live.props ?? outputs), [PROVIDER_KEY]: outputs[PROVIDER_KEY] });
                const changed = diffKeys(outputs, props);
                const secretKeys = secretKeysOf(r.outputs, []);
                if (changed.length > 0) {
                    this.say(`  ~ ${r.name}: drift`);
                    this.say(describeDiff(outputs, props, [], "      ", secretKeys));
                }
                const inputs = live.inputs ? wrapKeys(plain({ ...live.inputs, [PROVIDER_KEY]: outputs[PROVIDER_KEY] }), secretKeysOf(r.inputs, [])) : r.inputs;
                kept.push({ ...r, id: live.id, outputs: wrapKeys(props, secretKeys), inputs });
                this.steps.push({ op: "refresh", urn: r.urn, name: r.name, ok: true, changes: changed });
            } catch (e) {
                kept.push(r);
                this.errors.push(`${r.name}: refresh failed: ${errorText(e)}`);
                this.say(`  ✗ ${r.name}: refresh failed: ${errorText(e)}`);
            }
        }
        if (!this.o.preview) {
            this.o.state.resources = kept;
            saveState(this.o.stateFile, this.o.state, this.o.box);
        }
        return { ok: this.errors.length === 0, steps: this.steps, errors: this.errors, outputs: this.o.state.outputs };
    }
}

/**
 * Pure: an order in which resources can be deleted, as the engine derives it from the
 * dependency graph: a resource goes before everything it depends on (and a child before
 * its parent). Among free choices, the newest goes first. (Creation order alone is not
 * enough: a container recreated after the switch that depends on it must still go after it.)
 */
export function deletionOrder(resources: readonly ResourceState[]): ResourceState[] {
    const remaining = [...resources].reverse();
    const out: ResourceState[] = [];
    while (remaining.length > 0) {
        const free = remaining.findIndex((r) => !remaining.some((o) => o !== r && (o.dependencies.includes(r.urn) || o.parent === r.urn)));
        out.push(remaining.splice(free >= 0 ? free : 0, 1)[0]); // a cycle cannot come from a program; newest first then
    }
    return out;
}

/** Stack outputs as the CLI shows them: resources and functions are dropped. */
function filterOutputs(v: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(v ?? {}).filter(([k, x]) => k !== "default" && k !== "__esModule" && typeof x !== "function" && !pulumi.Resource.isInstance(x)));
}
