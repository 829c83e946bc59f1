// The engine's step decisions, as pure functions, each taken from
// pkg/resource/deploy/step_generator.go (v3.248.0).

import type { DiffResult } from "./host";
import { SECRET_SIG, SIG_KEY, isSecretWrapper } from "./secrets";

type Props = Record<string, unknown>;

export type Decision = { op: "same" } | { op: "update" } | { op: "replace"; deleteFirst: boolean; keys: string[] };

export interface DecideInput {
    readonly diff: DiffResult;
    readonly oldInputs: Props;
    readonly newInputs: Props;
    /** The resource option, when the program set it (`deleteBeforeReplaceDefined`). */
    readonly deleteBeforeReplaceOption?: boolean;
    readonly hasInitErrors: boolean;
    /** The replaceOnChanges option: property paths, `*` a wildcard. */
    readonly replaceOnChanges?: readonly string[];
}

/** Structural equality of JSON-like values, key order aside. */
export function deepEqual(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => deepEqual(x, (b as unknown[])[i]));
    const ka = Object.keys(a as Props).filter((k) => (a as Props)[k] !== undefined);
    const kb = Object.keys(b as Props).filter((k) => (b as Props)[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual((a as Props)[k], (b as Props)[k]));
}

/**
 * continueStepsFromDiff: DIFF_UNKNOWN becomes a comparison of old and new inputs (diffResource);
 * DIFF_NONE is no change whatever `replaces` says, unless the old state has init errors
 * (then an update, to retry); `replaces` makes a replacement, and the deleteBeforeReplace
 * option, when set, overrides the provider's answer.
 */
export function decide(i: DecideInput): Decision {
    let changes = i.diff.changes;
    let changedKeys = i.diff.changedKeys;
    if (changes === "unknown") {
        const keys = [...new Set([...Object.keys(i.oldInputs), ...Object.keys(i.newInputs)])].filter((k) => !deepEqual(i.oldInputs[k], i.newInputs[k]));
        changes = keys.length > 0 ? "some" : "none";
        changedKeys = keys;
    }
    let replaces = i.diff.replaces;
    // applyReplaceOnChanges: a changed key under a replaceOnChanges path replaces; so does `*` with init errors.
    if (changes === "some" || i.hasInitErrors) {
        const paths = (i.replaceOnChanges ?? []).map(parsePath);
        const extra = changedKeys.filter((k) => paths.some((p) => pathContains(p, parsePath(k))));
        if (i.hasInitErrors && paths.some((p) => pathContains(p, ["#initerror"]))) {
            extra.push("#initerror");
            changes = "some";
        }
        replaces = [...new Set([...replaces, ...extra])];
    }
    if (changes === "some") {
        if (replaces.length > 0) {
            const deleteFirst = i.deleteBeforeReplaceOption ?? i.diff.deleteBeforeReplace;
            return { op: "replace", deleteFirst, keys: replaces };
        }
        return { op: "update" };
    }
    return i.hasInitErrors ? { op: "update" } : { op: "same" };
}

/** issueCheckFailures: one error per failure, in the engine's wording (diag GetResourcePropertyInvalidValueError). */
export function checkFailureMessages(
    type: string,
    name: string,
    failures: readonly { property: string; reason: string }[],
    inputs: Props,
    secretKeys: ReadonlySet<string>,
): string[] {
    return failures.map((f) => {
        if (!f.property) return `${type} resource '${name}' has a problem: ${f.reason}`;
        const v = secretKeys.has(f.property) ? "[secret]" : (JSON.stringify(inputs[f.property]) ?? "undefined");
        return `${type} resource '${name}': property ${f.property} value {${v}} has a problem: ${f.reason}`;
    });
}

/** PropertyPath.Contains: `p` is a prefix of `other`, `*` matching any one key or index. */
export function pathContains(p: readonly (string | number)[], other: readonly (string | number)[]): boolean {
    if (other.length < p.length) return false;
    return p.every((k, i) => k === "*" || k === other[i]);
}

/** A property path (`a.b[0]["c.d"]`) as its keys. Throws on one it cannot parse. */
export function parsePath(p: string): (string | number)[] {
    const out: (string | number)[] = [];
    const re = /\s*(?:\.?([A-Za-z_$*#][\w$-]*)|\[(\d+)\]|\[(\*)\]|\["((?:[^"\\]|\\.)*)"\])/y;
    let i = 0;
    while (i < p.length) {
        re.lastIndex = i;
        const m = re.exec(p);
        if (!m || (i === 0 && p[0] === ".")) throw new Error(`cannot parse the property path ${JSON.stringify(p)}`);
        out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3] !== undefined ? "*" : JSON.parse(`"${m[4]}"`)));
        i = re.lastIndex;
    }
    return out;
}

/**
 * processIgnoreChanges: each ignored path takes its old value (or stays absent when it
 * had none). Returns the paths that could not be reset (an added or removed element).
 */
export function applyIgnoreChanges(news: Props, olds: Props, paths: readonly string[]): { inputs: Props; invalid: string[] } {
    const inputs = JSON.parse(JSON.stringify(news)) as Props;
    const invalid: string[] = [];
    for (const p of paths) {
        const keys = parsePath(p);
        let o: any = olds;
        let n: any = inputs;
        let ok = true;
        for (let k = 0; k < keys.length - 1 && ok; k++) {
            o = o?.[keys[k]];
            n = n?.[keys[k]];
            ok = typeof o === "object" && o !== null && typeof n === "object" && n !== null;
        }
        const last = keys[keys.length - 1];
        if (!ok) {
            invalid.push(p);
            continue;
        }
        if (o !== null && typeof o === "object" && last in o) n[last] = JSON.parse(JSON.stringify(o[last]));
        else if (Array.isArray(n)) invalid.push(p);
        else delete n[last];
    }
    return { inputs, invalid };
}

/** annotateSecrets (provider_plugin.go): an output is secret again when its input of the same key holds a secret. */
export function annotateSecrets(outs: Props, ins: Props): Props {
    const res: Props = { ...outs };
    for (const [k, inValue] of Object.entries(ins)) {
        if (!(k in res)) continue;
        const out = res[k];
        const plainObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v) && !isSecretWrapper(v);
        if (plainObject(out) && plainObject(inValue)) res[k] = annotateSecrets(out as Props, inValue as Props);
        else if (!isSecretWrapper(out) && containsSecret(inValue)) res[k] = { [SIG_KEY]: SECRET_SIG, value: out };
    }
    return res;
}

export function containsSecret(v: unknown): boolean {
    if (isSecretWrapper(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecret);
    if (typeof v === "object" && v !== null) return Object.values(v).some(containsSecret);
    return false;
}

/** Plaintext for the provider: the host does not accept secrets, so the engine strips them. */
export function stripSecrets(v: unknown): unknown {
    if (isSecretWrapper(v)) return stripSecrets(v.value);
    if (Array.isArray(v)) return v.map(stripSecrets);
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, stripSecrets(x)]));
    return v;
}

/** The step executor: additionalSecretOutputs, and outputs whose same-named input is secret. */
export function secretOutputs(outs: Props, ins: Props, additional: readonly string[]): Props {
    const res: Props = { ...outs };
    for (const k of Object.keys(res)) {
        if (isSecretWrapper(res[k]) || res[k] === undefined) continue;
        if (additional.includes(k) || isSecretWrapper(ins[k])) res[k] = { [SIG_KEY]: SECRET_SIG, value: res[k] };
    }
    return res;
}

interface Node {
    readonly urn: string;
    readonly parent?: string;
    readonly dependencies: readonly string[];
}

/**
 * ScheduleDeletes: antichains of resources to delete; those in one antichain do not depend
 * on each other and run at once, and an antichain starts when the one before it is done.
 * A resource goes after everything that depends on it (dependencies or parent).
 */
export function scheduleDeletes<T extends Node>(condemned: readonly T[]): T[][] {
    const left = new Set(condemned);
    const chains: T[][] = [];
    while (left.size > 0) {
        const ready = [...left].filter((r) => ![...left].some((o) => o !== r && (r.dependencies.includes(o.urn) || r.parent === o.urn)));
        const take = ready.length > 0 ? ready : [[...left][0]]; // a cycle cannot come from a program
        for (const r of take) left.delete(r);
        chains.push(take);
    }
    return chains.reverse();
}
