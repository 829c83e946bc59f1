// The offline engine. Runs the program under pulumi.runtime.setMocks, answers its
// resource registrations itself (URNs as the engine builds them), and performs each
// resource's steps as the Pulumi engine does (pkg/resource/deploy, v3.248.0): check,
// diff, then create / update / replace, and at the end the deletes, in parallel where
// the dependency graph allows. Dynamic resources are handled by Pulumi's own
// dynamic-provider host over gRPC (runner/host.ts); command:local:Command in-process
// (runner/commandProvider.ts). After a failed step no new step starts: later
// registrations are answered as skipped, so the program still finishes.

import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { PropertyChange } from "./diff";
import { diffKeys, formatChange, propertyChanges } from "./diff";
import type { Provider } from "./host";
import { ProviderError } from "./host";
import { ResourceOptions, readOptions } from "./options";
import { DYNAMIC_TYPE } from "./providers";
import { annotateSecrets, applyIgnoreChanges, checkFailureMessages, decide, scheduleDeletes, secretOutputs, stripSecrets } from "./plan";
import type { Project, StackConfig } from "./project";
import { isSecretWrapper } from "./secrets";
import { ResourceState, SecretBox, StackState, saveState } from "./state";
import { AliasSpec, ROOT_STACK_TYPE, aliasUrns, makeUrn } from "./urn";

// Internal SDK modules: the version is pinned in package.json for this reason.
const settings = require("@pulumi/pulumi/runtime/settings");
const stackModule = require("@pulumi/pulumi/runtime/stack");
const rpc = require("@pulumi/pulumi/runtime/rpc");
const resproto = require("@pulumi/pulumi/proto/resource_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const { unknown: UNKNOWN } = require("@pulumi/pulumi/output");

const UNKNOWN_SENTINEL: string = rpc.unknownValue;

export type Op = "create" | "update" | "replace" | "delete" | "same" | "refresh";
export type Status = "done" | "planned" | "failed" | "skipped";

export interface StepRecord {
    readonly op: Op;
    readonly urn: string;
    readonly name: string;
    readonly type: string;
    readonly status: Status;
    /** done or planned. */
    readonly ok: boolean;
    readonly error?: string;
    /** Why a skipped step did not run. */
    readonly reason?: string;
    /** Changed top-level keys. */
    readonly changes?: string[];
    /** Changed properties by path; secrets masked. */
    readonly diff?: PropertyChange[];
    readonly replaceKeys?: string[];
    readonly deleteFirst?: boolean;
}

export interface RunResult {
    readonly ok: boolean;
    readonly canceled: boolean;
    readonly steps: StepRecord[];
    /** One line per failure: `<name>: <op> failed: <message>`. */
    readonly errors: string[];
    readonly outputs: Record<string, unknown>;
    /** The program refused its stack config (an error named ConfigError): its message, the problems. */
    readonly configError?: string;
}

/** The program's own failures during one run. */
interface ProgramRun {
    readonly errors: string[];
    configError?: string;
    /** Still running: later rejections are echoes of errors already counted, or the program's last words. */
    open: boolean;
}

let programListening: ProgramRun | undefined;

/**
 * As the SDK's run.js does, one handler for the program's unhandled rejections for the rest
 * of the process, reporting each error once: the SDK rejects a failed program's stack outputs
 * again after the run, and with no handler left Node would print a stack trace and exit.
 */
function listenForProgram(run: ProgramRun): void {
    if (!programListening) process.on("unhandledRejection", (e) => programRejected(programListening!, e));
    programListening = run;
}

function programRejected(run: ProgramRun, e: unknown): void {
    const msg = errorText(e);
    if (run.errors.includes(msg)) return;
    if (!run.open) {
        process.stderr.write(`warning: the program rejected a promise after its run: ${msg}\n`);
        return;
    }
    run.errors.push(msg);
    if ((e as { name?: unknown } | undefined)?.name === "ConfigError") run.configError ??= msg;
}

export interface Reporter {
    line(text: string): void;
}

type Props = Record<string, unknown>;

export interface Providers {
    /** The provider for a resource type; throws a refusal for types the runner cannot run. */
    for(type: string): Promise<Provider>;
}

/** Round-trips through JSON like the gRPC Struct the host receives (drops undefined). */
function plain<T>(v: T): T {
    return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

/** Unknown values (preview) as the engine sends them: the sentinel string. */
function withSentinels(v: unknown): unknown {
    if (v === UNKNOWN) return UNKNOWN_SENTINEL;
    if (Array.isArray(v)) return v.map(withSentinels);
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withSentinels(x)]));
    return v;
}

function errorText(e: unknown): string {
    const m = (e as { message?: unknown } | undefined)?.message;
    return typeof m === "string" ? m : String(e);
}

/**
 * The file to load for the program: its compiled JavaScript when this runner runs from
 * the build in bin/ (scripts/build.js keeps it in sync), else the TypeScript through ts-node.
 */
export function programEntry(main: string): string {
    const here = path.resolve(__dirname, "..");
    if (path.basename(here) === "bin" && main.endsWith(".ts")) {
        const rel = path.relative(path.dirname(here), main);
        const compiled = path.join(here, rel.replace(/\.ts$/, ".js"));
        if (!rel.startsWith("..") && fs.existsSync(compiled)) return compiled;
    }
    if (main.endsWith(".ts") && !require.extensions[".ts"]) require("ts-node").register({ transpileOnly: true });
    return main;
}

export interface EngineOptions {
    readonly project: Project;
    readonly stack: string;
    readonly config: StackConfig;
    readonly state: StackState;
    readonly box: SecretBox;
    readonly stateFile: string;
    readonly preview: boolean;
    /** Refresh writes nothing either (preview --refresh). */
    readonly dryRefresh?: boolean;
    readonly reporter: Reporter;
    readonly providers: Providers;
}

export class Engine {
    private readonly olds = new Map<string, ResourceState>();
    private pending: ResourceState[];
    private readonly news = new Map<string, ResourceState>();
    /** Old URN -> the new URN that claimed it (itself, or through an alias). */
    private readonly claimedBy = new Map<string, string>();
    /** New URN -> old URN matched through an alias (the engine's sg.aliases). */
    private readonly aliased = new Map<string, string>();
    /** Old resources deleted during the run (the delete half of a delete-before-replace). */
    private readonly gone = new Set<string>();
    private readonly registered = new Set<string>();
    private readonly failedUrns = new Set<string>();
    private readonly steps: StepRecord[] = [];
    private readonly errors: string[] = [];
    private readonly inflight = new Set<Promise<unknown>>();
    private stopReason?: string;
    private canceled = false;
    private configError?: string;
    private stackOutputs?: Props;
    private stackUrn?: string;

    constructor(private readonly o: EngineOptions) {
        for (const r of o.state.resources) if (!r.pendingDelete) this.olds.set(r.urn, r);
        this.pending = o.state.resources.filter((r) => r.pendingDelete);
    }

    private say(text: string): void {
        if (text) this.o.reporter.line(text);
    }

    /** No new step starts after this; steps in flight finish. The first reason is kept. */
    stop(reason: string, canceled = false): void {
        this.stopReason ??= reason;
        if (canceled) this.canceled = true;
    }

    get stopped(): boolean {
        return this.stopReason !== undefined;
    }

    /** Records a failed step and stops the run (the engine's cancelDueToError). */
    private failStep(r: { urn: string; name: string; type: string }, op: Op, message: string, stop = true): void {
        this.failedUrns.add(r.urn);
        this.errors.push(`${r.name}: ${op} failed: ${message}`);
        this.steps.push({ op, urn: r.urn, name: r.name, type: r.type, status: "failed", ok: false, error: message });
        this.say(`  ✗ ${r.name}: ${op} failed: ${message}`);
        if (stop) this.stop(`${r.name} failed`);
    }

    private skip(r: { urn: string; name: string; type: string }, op: Op, dependencies: readonly string[], parent?: string): void {
        const bad = [...dependencies, ...(parent ? [parent] : [])].filter((u) => this.failedUrns.has(u));
        const reason =
            bad.length > 0 ? `depends on ${bad.map((u) => u.split("::").pop()).join(", ")}, which did not complete` : `the run stopped: ${this.stopReason}`;
        this.failedUrns.add(r.urn);
        this.steps.push({ op, urn: r.urn, name: r.name, type: r.type, status: "skipped", ok: false, reason });
        this.say(`  - ${r.name}: ${op} skipped (${reason})`);
    }

    /** The state right now: this run's results, old resources not replaced or deleted, pending deletes. */
    private snapshot(): ResourceState[] {
        const kept = [...this.olds.values()].filter((r) => !this.gone.has(r.urn) && !this.news.has(this.claimedBy.get(r.urn) ?? "\0"));
        return [...this.news.values(), ...kept, ...this.pending];
    }

    private persist(outputs?: Props): void {
        if (this.o.preview) return;
        this.o.state.resources = this.snapshot();
        if (outputs) this.o.state.outputs = outputs;
        saveState(this.o.stateFile, this.o.state, this.o.box);
    }

    /**
     * `write: false` for a same step: the old entry already on disk is as good after a kill,
     * and the next write carries the new one (the engine's snapshot manager skips same steps
     * too). Each write is the whole file with every provider's code, about 15 ms.
     */
    private record(r: ResourceState, write = true): void {
        this.news.delete(r.urn); // keep registration order for a re-recorded resource
        this.news.set(r.urn, r);
        if (write) this.persist();
    }

    private track<T>(p: Promise<T>): Promise<T> {
        this.inflight.add(p);
        const done = () => this.inflight.delete(p);
        p.then(done, done);
        return p;
    }

    /** Runs the program and every step it implies. */
    async run(): Promise<RunResult> {
        const { project, stack, config, preview } = this.o;
        await pulumi.runtime.setMocks({ newResource: () => ({ id: undefined, state: {} }), call: () => ({}) }, project.name, stack, preview);
        const monitor = settings.getMonitor();
        monitor.registerResource = (req: any, cb: (err: unknown, resp?: unknown) => void) => {
            this.track(this.register(req)).then(
                (resp) => cb(null, resp),
                (e) => cb(e),
            );
        };
        monitor.registerResourceOutputs = (req: any, cb: (err: unknown, resp?: unknown) => void) => {
            this.registerOutputs(req.getUrn(), rpc.deserializeProperties(req.getOutputs()));
            cb(null, {});
        };
        monitor.readResource = (req: any, cb: (err: unknown) => void) =>
            cb(new Error(`${req.getType()}.get("${req.getName()}") (reading an existing resource) is not supported by the offline runner; use the Pulumi CLI`));
        monitor.invoke = (req: any, cb: (err: unknown) => void) =>
            cb(new Error(`function ${req.getTok()} is not supported by the offline runner; use the Pulumi CLI`));
        pulumi.runtime.setAllConfig(config.values, config.secretKeys);

        const program: ProgramRun = { errors: [], open: true };
        const onRejection = (e: unknown) => programRejected(program, e);
        listenForProgram(program);
        try {
            const entry = programEntry(project.main);
            // As the SDK's run.js: a program that exports a function is called, and its result awaited.
            await stackModule.runInPulumiStack(async () => {
                const exported = require(entry) as unknown;
                return exported instanceof Function ? await (exported as () => unknown)() : exported;
            });
        } catch (e) {
            onRejection(e);
        }
        await settings.waitForRPCs().catch(onRejection);
        while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
        program.open = false;
        const programErrors = program.errors;
        this.configError = program.configError;
        for (const m of programErrors) this.errors.push(`program: ${m}`);
        if (programErrors.length > 0) this.stop("the program failed");

        if (!this.stopped) await this.deleteRemoved();
        else if (!preview && this.condemned().length > 0) this.say(`  deletes skipped: ${this.stopReason}, so resources that left the program are kept`);

        const outputs = this.finalOutputs();
        this.persist(outputs);
        return {
            ok: this.errors.length === 0 && !this.canceled,
            canceled: this.canceled,
            steps: this.steps,
            errors: this.errors,
            outputs,
            ...(this.configError ? { configError: this.configError } : {}),
        };
    }

    /** finalizeStackOutputs: after a failure the new outputs overwrite the old ones key by key. */
    private finalOutputs(): Props {
        const fresh = this.stackOutputs;
        if (!fresh) return this.o.state.outputs;
        if (this.errors.length === 0 && !this.canceled) return fresh;
        return { ...this.o.state.outputs, ...fresh };
    }

    private registerOutputs(urn: string, outputs: Props): void {
        const clean = plain(Object.fromEntries(Object.entries(outputs ?? {}).filter(([, v]) => v !== undefined && v !== UNKNOWN)));
        if (urn === this.stackUrn) {
            this.stackOutputs = clean;
            return;
        }
        const r = this.news.get(urn);
        if (r && !r.custom) this.record({ ...r, outputs: clean });
    }

    private response(urn: string, id: string | undefined, state: Props, result: "ok" | "fail" | "skip"): unknown {
        const resp = new resproto.RegisterResourceResponse();
        resp.setUrn(urn);
        resp.setId(id ?? "");
        resp.setObject(structproto.Struct.fromJavaScript(state));
        resp.setResult(result === "ok" ? resproto.Result.SUCCESS : result === "fail" ? resproto.Result.FAIL : resproto.Result.SKIP);
        return resp;
    }

    /** Outputs the program sees; for a failed or skipped resource, unknown values (it never completed). */
    private async answer(urn: string, id: string | undefined, outputs: Props | undefined, result: "ok" | "fail" | "skip", inputs: Props): Promise<unknown> {
        if (result !== "ok") return this.response(urn, undefined, Object.fromEntries(Object.keys(inputs).map((k) => [k, UNKNOWN_SENTINEL])), result);
        return this.response(urn, id, await rpc.serializeProperties("", outputs ?? {}), "ok");
    }

    private async register(req: any): Promise<unknown> {
        const type: string = req.getType();
        const name: string = req.getName();
        const parent: string | undefined = req.getParent() || undefined;
        const urn = makeUrn(this.o.stack, this.o.project.name, parent, type, name);
        if (this.registered.has(urn))
            throw new Error(`duplicate resource URN ${urn}: two resources of type ${type} named ${name} under one parent; rename one`);
        this.registered.add(urn);
        const dependencies: string[] = [...new Set<string>(req.getDependenciesList())];
        const inputs = plain(withSentinels(rpc.deserializeProperties(req.getObject()))) as Props;
        const options = readOptions(req, type);
        const old = this.claimOld(urn, name, type, parent, options.aliases);
        const base = { urn, type, name, parent, dependencies };

        if (type === ROOT_STACK_TYPE && !parent) this.stackUrn = urn;
        if (!req.getCustom()) {
            if (this.stopped) return this.answer(urn, undefined, undefined, "skip", inputs);
            this.record({ ...base, custom: false, inputs: {}, outputs: old?.outputs ?? {} });
            return this.answer(urn, undefined, {}, "ok", inputs);
        }
        if (options.refusal) {
            this.failStep(base, old ? "update" : "create", options.refusal);
            return this.answer(urn, undefined, undefined, "fail", inputs);
        }
        if (this.stopped) {
            this.skip(base, old ? "update" : "create", dependencies, parent);
            return this.answer(urn, undefined, undefined, "skip", inputs);
        }
        return this.step(base, inputs, options, old);
    }

    /** getOldResource: by URN first, then by alias; an old resource is claimed once. */
    private claimOld(urn: string, name: string, type: string, parent: string | undefined, aliases: readonly AliasSpec[]): ResourceState | undefined {
        const candidates = [urn, ...aliasUrns(name, type, parent, aliases, { stack: this.o.stack, project: this.o.project.name, aliased: this.aliased })];
        for (const u of candidates) {
            const old = this.olds.get(u);
            if (!old) continue;
            if (u !== urn) {
                if (this.registered.has(u))
                    throw new Error(`${urn} has an alias ${u}, but a resource with that URN is in the program too; remove the alias or the other resource`);
                if (this.claimedBy.has(u))
                    throw new Error(`${urn} and ${this.claimedBy.get(u)} both claim ${u} through aliases; keep the alias on one of them`);
                this.aliased.set(urn, u);
            }
            this.claimedBy.set(u, urn);
            return old;
        }
        return undefined;
    }

    private async step(
        base: Omit<ResourceState, "custom" | "inputs" | "outputs">,
        rawInputs: Props,
        opts: ResourceOptions,
        old: ResourceState | undefined,
    ): Promise<unknown> {
        const { urn, name, type } = base;
        const preview = this.o.preview;
        const opFor = old ? "update" : "create";
        let provider: Provider;
        try {
            provider = await this.o.providers.for(type);
        } catch (e) {
            this.failStep(base, opFor, errorText(e));
            return this.answer(urn, undefined, undefined, "fail", rawInputs);
        }
        if (type === DYNAMIC_TYPE && opts.replaceOnChanges.length > 0) {
            this.say(
                `  ${name}: replaceOnChanges has no effect on a dynamic resource (under pulumi up neither: the host reports no changed keys); return the key in diff's replaces`,
            );
        }
        const oldInputs = old ? (old.inputs as Props) : undefined;
        let news = rawInputs;
        if (old && opts.ignoreChanges.length > 0) {
            const r = applyIgnoreChanges(news, oldInputs!, opts.ignoreChanges);
            news = r.inputs;
            if (r.invalid.length > 0)
                this.say(`  ${name}: cannot ignore changes in added or removed elements of ${r.invalid.map((p) => JSON.stringify(p)).join(", ")}`);
        }
        const secretKeys = new Set(Object.keys(news).filter((k) => isSecretWrapper(news[k])));
        const state = (extra: Partial<ResourceState>): ResourceState => ({
            ...base,
            custom: true,
            inputs: {},
            outputs: {},
            protect: opts.protect,
            retainOnDelete: opts.retainOnDelete,
            ...extra,
        });

        // check
        const check = async (olds: Props): Promise<Props | undefined> => {
            try {
                const c = await provider.check(urn, stripSecrets(olds) as Props, stripSecrets(news) as Props);
                if (c.failures.length > 0) {
                    const msgs = checkFailureMessages(type, name, c.failures, stripSecrets(news) as Props, secretKeys);
                    for (const m of msgs) this.failStep(base, opFor, m);
                    this.stop(`${name} is invalid`);
                    return undefined;
                }
                return annotateSecrets(plain(c.inputs), news);
            } catch (e) {
                this.failStep(base, opFor, `check: ${errorText(e)}`);
                return undefined;
            }
        };
        let checked = await check(oldInputs ?? {});
        if (!checked) return this.answer(urn, undefined, undefined, "fail", rawInputs);

        const planned = (op: Op, diff: PropertyChange[], extra: Partial<StepRecord> = {}) =>
            this.steps.push({
                op,
                urn,
                name,
                type,
                status: "planned",
                ok: true,
                changes: [...new Set(diff.map((d) => d.path.split(/[.[]/)[0]))],
                diff,
                ...extra,
            });
        const done = (op: Op, diff: PropertyChange[] = [], extra: Partial<StepRecord> = {}) =>
            this.steps.push({ op, urn, name, type, status: "done", ok: true, changes: [...new Set(diff.map((d) => d.path.split(/[.[]/)[0]))], diff, ...extra });
        const show = (diff: PropertyChange[]) => {
            for (const c of diff) this.say(`      ${formatChange(c)}`);
        };

        /** A step that has not started when the run stops is skipped (the engine's canceled chain). */
        const skipped = (op: Op): boolean => {
            if (!this.stopped) return false;
            this.skip(base, op, base.dependencies, base.parent);
            return true;
        };
        const create = async (inputs: Props, op: "create" | "replace", diff: PropertyChange[]): Promise<ResourceState | undefined> => {
            try {
                const r = await provider.create(urn, stripSecrets(inputs) as Props, opts.timeouts.create);
                if (!r.id) throw new Error(`provider did not return an ID from Create for ${urn}`);
                const created = state({
                    id: r.id,
                    inputs,
                    outputs: secretOutputs(annotateSecrets(plain(r.properties), inputs), inputs, opts.additionalSecretOutputs),
                });
                this.record(created);
                done(op, diff);
                return created;
            } catch (e) {
                const init = e instanceof ProviderError ? e.initFailure : undefined;
                if (init) {
                    // A partial failure: the resource exists, so state keeps it under its id, exactly as returned.
                    const outputs = secretOutputs(annotateSecrets(plain(init.properties), inputs), inputs, opts.additionalSecretOutputs);
                    this.record(
                        state({
                            id: init.id,
                            inputs: init.inputs ? annotateSecrets(plain(init.inputs), inputs) : inputs,
                            outputs,
                            initErrors: init.reasons.length ? init.reasons : [errorText(e)],
                        }),
                    );
                }
                this.failStep(base, op, errorText(e));
                return undefined;
            }
        };

        if (!old) {
            const diff = propertyChanges({}, checked, [], secretKeys);
            this.say(`  + ${name}: create`);
            if (preview) {
                planned("create", diff);
                return this.answer(urn, undefined, checked, "ok", rawInputs);
            }
            if (skipped("create")) return this.answer(urn, undefined, undefined, "skip", rawInputs);
            const created = await create(checked, "create", diff);
            return created ? this.answer(urn, created.id, created.outputs, "ok", rawInputs) : this.answer(urn, undefined, undefined, "fail", rawInputs);
        }

        // diff
        const oldOutputs = old.outputs as Props;
        let decision;
        try {
            const d = await provider.diff(
                urn,
                old.id ?? "",
                stripSecrets(oldInputs) as Props,
                stripSecrets(oldOutputs) as Props,
                stripSecrets(checked) as Props,
                opts.ignoreChanges,
            );
            decision = decide({
                diff: d,
                oldInputs: stripSecrets(oldInputs) as Props,
                newInputs: stripSecrets(checked) as Props,
                deleteBeforeReplaceOption: opts.deleteBeforeReplace,
                hasInitErrors: (old.initErrors ?? []).length > 0,
                replaceOnChanges: opts.replaceOnChanges,
            });
        } catch (e) {
            this.failStep(base, "update", `diff: ${errorText(e)}`);
            return this.answer(urn, undefined, undefined, "fail", rawInputs);
        }
        // Shown against the old outputs, as the CLI does, so drift found by refresh is visible.
        const shownOld = Object.fromEntries(Object.keys({ ...oldInputs, ...checked }).map((k) => [k, k in oldOutputs ? oldOutputs[k] : oldInputs![k]]));

        if (decision.op === "same") {
            this.steps.push({ op: "same", urn, name, type, status: preview ? "planned" : "done", ok: true });
            const same: ResourceState = { ...old, ...base, custom: true, inputs: checked, protect: opts.protect, retainOnDelete: opts.retainOnDelete };
            if (!preview) this.record(same, false);
            return this.answer(urn, old.id, old.outputs, "ok", rawInputs);
        }

        if (decision.op === "update") {
            const diff = propertyChanges(shownOld, checked, [], secretKeys);
            this.say(`  ~ ${name}: update`);
            if (diff.length > 0) show(diff);
            else
                this.say(
                    old.initErrors?.length
                        ? "      (retrying: the last create or update did not finish initializing)"
                        : "      (live state differs; the provider will reconcile it)",
                );
            if (preview) {
                planned("update", diff);
                return this.answer(urn, old.id, checked, "ok", rawInputs);
            }
            if (skipped("update")) return this.answer(urn, undefined, undefined, "skip", rawInputs);
            try {
                const r = await provider.update(
                    urn,
                    old.id ?? "",
                    stripSecrets(oldOutputs) as Props,
                    stripSecrets(checked) as Props,
                    stripSecrets(oldInputs) as Props,
                    opts.ignoreChanges,
                    opts.timeouts.update,
                );
                const updated = state({
                    id: old.id,
                    inputs: checked,
                    outputs: secretOutputs(annotateSecrets(plain(r.properties), checked), checked, opts.additionalSecretOutputs),
                });
                this.record(updated);
                done("update", diff);
                return this.answer(urn, updated.id, updated.outputs, "ok", rawInputs);
            } catch (e) {
                const init = e instanceof ProviderError ? e.initFailure : undefined;
                if (init) {
                    const outputs = secretOutputs(annotateSecrets(plain(init.properties), checked), checked, opts.additionalSecretOutputs);
                    this.record(state({ id: old.id, inputs: checked, outputs, initErrors: init.reasons.length ? init.reasons : [errorText(e)] }));
                }
                this.failStep(base, "update", errorText(e));
                return this.answer(urn, undefined, undefined, "fail", rawInputs);
            }
        }

        // replace
        const diff = propertyChanges(shownOld, checked, decision.keys, secretKeys);
        this.say(`  +- ${name}: replace${decision.deleteFirst ? " (delete first)" : ""}`);
        show(diff);
        if (old.protect && opts.protect) {
            this.failStep(
                base,
                "replace",
                `unable to replace resource ${JSON.stringify(urn)} as it is currently marked for protection. To unprotect the resource, remove the \`protect\` flag from the resource in your Pulumi program and run up`,
            );
            return this.answer(urn, undefined, undefined, "fail", rawInputs);
        }
        // The replacement's inputs are checked again without the old ones (defaults are recomputed).
        checked = await check({});
        if (!checked) return this.answer(urn, undefined, undefined, "fail", rawInputs);
        const extra = { replaceKeys: decision.keys, deleteFirst: decision.deleteFirst };
        if (preview) {
            planned("replace", diff, extra);
            return this.answer(urn, old.id, checked, "ok", rawInputs);
        }
        if (skipped("replace")) return this.answer(urn, undefined, undefined, "skip", rawInputs);
        if (decision.deleteFirst) {
            try {
                await this.deleteOne(old, true);
            } catch (e) {
                this.failStep(base, "replace", errorText(e));
                return this.answer(urn, undefined, undefined, "fail", rawInputs);
            }
            this.gone.add(old.urn);
            this.persist();
            if (this.stopped) {
                // The engine runs the chain delete -> create, and a canceled chain starts nothing more.
                const msg = `${name} was deleted for its replacement, and the create was not started because the run stopped (${this.stopReason}). It is absent now; run up again to create it.`;
                this.failStep(base, "replace", msg, false);
                return this.answer(urn, undefined, undefined, "fail", rawInputs);
            }
        }
        const created = await create(checked, "replace", diff);
        if (!decision.deleteFirst && (created || this.news.get(urn)?.initErrors)) this.pending.push({ ...old, pendingDelete: true });
        if (!decision.deleteFirst) this.persist();
        if (!created && decision.deleteFirst) {
            this.errors.push(`${name}: the old resource was deleted before the failed create; it is absent now (run up again to create it)`);
        }
        return created ? this.answer(urn, created.id, created.outputs, "ok", rawInputs) : this.answer(urn, undefined, undefined, "fail", rawInputs);
    }

    /** Deletes one resource through its provider (nothing for a component); honours protect and retainOnDelete. */
    private async deleteOne(r: ResourceState, replacing = false): Promise<"deleted" | "retained"> {
        if (!r.custom) return "deleted";
        if (!replacing && r.protect) {
            throw Object.assign(
                new Error(
                    `resource ${JSON.stringify(r.urn)} cannot be deleted because it is protected. To unprotect the resource, ` +
                        "remove the `protect` flag from the resource in your Pulumi program and run up first",
                ),
                { protectedDelete: true },
            );
        }
        if (r.retainOnDelete) return "retained";
        const provider = await this.o.providers.for(r.type);
        await provider.delete(r.urn, r.id ?? "", stripSecrets(r.outputs) as Props, stripSecrets(r.inputs) as Props, 0);
        return "deleted";
    }

    /** Old resources that left the program, and replaced ones waiting for deletion. */
    private condemned(): ResourceState[] {
        return [...[...this.olds.values()].filter((r) => !this.claimedBy.has(r.urn) && !this.gone.has(r.urn)), ...this.pending];
    }

    /** Runs deletes as antichains (scheduleDeletes); after a failure no further antichain starts. */
    private async runDeletes(condemned: ResourceState[], forget: (r: ResourceState) => void): Promise<void> {
        for (const chain of scheduleDeletes(condemned)) {
            if (this.stopped) {
                for (const r of chain) if (r.custom) this.skip({ urn: r.urn, name: r.name, type: r.type }, "delete", []);
                continue;
            }
            await Promise.all(
                chain.map(async (r) => {
                    const label = r.pendingDelete ? "delete (replaced)" : "delete";
                    if (r.custom) this.say(`  - ${r.name}: ${label}`);
                    if (this.o.preview) {
                        if (r.custom) this.steps.push({ op: "delete", urn: r.urn, name: r.name, type: r.type, status: "planned", ok: true });
                        return;
                    }
                    try {
                        const how = await this.track(this.deleteOne(r));
                        if (how === "retained") this.say(`  ${r.name}: retained (retainOnDelete): removed from state, not deleted`);
                    } catch (e) {
                        // A protected resource does not stop the other deletes (the engine's deleteProtectedError).
                        this.failStep(r, "delete", errorText(e), !(e as { protectedDelete?: boolean }).protectedDelete);
                        return;
                    }
                    forget(r);
                    if (r.custom) this.steps.push({ op: "delete", urn: r.urn, name: r.name, type: r.type, status: "done", ok: true });
                    this.persist();
                }),
            );
        }
    }

    private async deleteRemoved(): Promise<void> {
        await this.runDeletes(this.condemned(), (r) => {
            if (r.pendingDelete) this.pending = this.pending.filter((x) => x !== r);
            else this.gone.add(r.urn);
        });
    }

    /** `destroy`: every resource, dependents first, independent ones at once. */
    async destroyAll(): Promise<RunResult> {
        await this.deleteRemoved();
        const left = this.snapshot();
        this.persist(left.length === 0 ? {} : undefined);
        return { ok: this.errors.length === 0 && !this.canceled, canceled: this.canceled, steps: this.steps, errors: this.errors, outputs: {} };
    }

    /** `refresh`: asks each provider for live state, all at once; an empty id means the resource is gone. */
    async refreshAll(): Promise<RunResult> {
        const results = await Promise.all(
            this.o.state.resources.map(async (r): Promise<ResourceState | undefined> => {
                if (!r.custom || this.stopped) return r;
                try {
                    const provider = await this.o.providers.for(r.type);
                    const live = await this.track(provider.read(r.urn, r.id ?? "", stripSecrets(r.outputs) as Props, stripSecrets(r.inputs) as Props));
                    if (!live.id) {
                        this.say(`  - ${r.name}: gone (deleted outside Pulumi)`);
                        this.steps.push({ op: "refresh", urn: r.urn, name: r.name, type: r.type, status: "done", ok: true, changes: ["(deleted)"] });
                        return undefined;
                    }
                    const outputs = annotateSecrets(plain(live.properties), r.outputs);
                    const secretKeys = new Set(Object.keys(r.outputs).filter((k) => isSecretWrapper(r.outputs[k])));
                    const diff = propertyChanges(r.outputs, outputs, [], secretKeys);
                    if (diff.length > 0) {
                        this.say(`  ~ ${r.name}: drift`);
                        for (const c of diff) this.say(`      ${formatChange(c)}`);
                    }
                    const inputs = live.inputs ? annotateSecrets(plain(live.inputs), r.inputs) : r.inputs;
                    this.steps.push({
                        op: "refresh",
                        urn: r.urn,
                        name: r.name,
                        type: r.type,
                        status: "done",
                        ok: true,
                        changes: diffKeys(r.outputs, outputs),
                        diff,
                    });
                    return { ...r, id: live.id, outputs, inputs };
                } catch (e) {
                    this.failStep(r, "refresh", errorText(e));
                    return r;
                }
            }),
        );
        const kept = results.filter((r): r is ResourceState => r !== undefined);
        this.o.state.resources = kept;
        if (!this.o.preview && !this.o.dryRefresh) saveState(this.o.stateFile, this.o.state, this.o.box);
        return { ok: this.errors.length === 0, canceled: this.canceled, steps: this.steps, errors: this.errors, outputs: this.o.state.outputs };
    }
}
