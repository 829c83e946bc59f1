// Property diffs for preview, up and refresh output, by property path like
// `pulumi preview --diff`: `~ components[0].container: "a" => "b"`. Secrets, at any
// depth, never show their value. Pure.

import { isSecretWrapper } from "./secrets";

const PROVIDER_KEY = "__provider";
const MAX = 120;

type Props = Record<string, unknown>;

export interface PropertyChange {
    readonly kind: "+" | "-" | "~";
    readonly path: string;
    readonly old?: string;
    readonly new?: string;
    /** The top-level key is one the provider replaces on. */
    readonly replace: boolean;
}

/** Top-level keys whose values differ (by JSON). */
export function diffKeys(olds: Props, news: Props): string[] {
    const keys = new Set([...Object.keys(olds ?? {}), ...Object.keys(news ?? {})]);
    return [...keys].filter((k) => JSON.stringify(olds?.[k]) !== JSON.stringify(news?.[k])).sort();
}

function show(v: unknown): string {
    const s = JSON.stringify(v);
    return s === undefined ? "undefined" : s.length > MAX ? `${s.slice(0, MAX - 3)}...` : s;
}

/** A path segment: `.key`, `["odd key"]` or `[3]`. */
function join(base: string, key: string | number): string {
    if (typeof key === "number") return `${base}[${key}]`;
    if (/^[A-Za-z_$][\w$-]*$/.test(key)) return base ? `${base}.${key}` : key;
    return `${base}[${JSON.stringify(key)}]`;
}

const isObject = (v: unknown): v is Props => typeof v === "object" && v !== null && !Array.isArray(v) && !isSecretWrapper(v);

function walk(path: string, o: unknown, n: unknown, hasO: boolean, hasN: boolean, secret: boolean, replace: boolean, out: PropertyChange[]): void {
    if (hasO && hasN && JSON.stringify(o) === JSON.stringify(n)) return;
    const masked = secret || isSecretWrapper(o) || isSecretWrapper(n);
    const text = (v: unknown) => (masked ? "[secret]" : show(v));
    if (hasO && hasN && !masked && ((isObject(o) && isObject(n)) || (Array.isArray(o) && Array.isArray(n)))) {
        if (Array.isArray(o) && Array.isArray(n)) {
            for (let i = 0; i < Math.max(o.length, n.length); i++) walk(join(path, i), o[i], n[i], i < o.length, i < n.length, false, replace, out);
        } else {
            const a = o as Props;
            const b = n as Props;
            for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(join(path, k), a[k], b[k], k in a, k in b, false, replace, out);
        }
        return;
    }
    if (!hasO) out.push({ kind: "+", path, new: text(n), replace });
    else if (!hasN) out.push({ kind: "-", path, old: text(o), replace });
    else out.push({ kind: "~", path, old: text(o), new: text(n), replace });
}

/** Every changed leaf, by path. Keys in `secret` (and secret values anywhere) are masked. */
export function propertyChanges(olds: Props, news: Props, replaces: readonly string[] = [], secret: ReadonlySet<string> = new Set()): PropertyChange[] {
    const out: PropertyChange[] = [];
    for (const k of diffKeys(olds ?? {}, news ?? {})) {
        const replace = replaces.includes(k);
        if (k === PROVIDER_KEY) {
            out.push({ kind: "~", path: k, old: "(provider code)", new: "(changed)", replace });
            continue;
        }
        walk(join("", k), olds?.[k], news?.[k], k in (olds ?? {}), k in (news ?? {}), secret.has(k), replace, out);
    }
    return out;
}

export function formatChange(c: PropertyChange): string {
    const mark = c.replace ? " [replace]" : "";
    if (c.path === PROVIDER_KEY) return `~ ${c.path}: (provider code changed)${mark}`;
    if (c.kind === "+") return `+ ${c.path}: ${c.new}${mark}`;
    if (c.kind === "-") return `- ${c.path}: ${c.old}${mark}`;
    return `~ ${c.path}: ${c.old} => ${c.new}${mark}`;
}

/** One line per changed leaf; `indent` before each. */
export function describeDiff(olds: Props, news: Props, replaces: readonly string[] = [], indent = "", secret: ReadonlySet<string> = new Set()): string {
    return propertyChanges(olds, news, replaces, secret)
        .map((c) => indent + formatChange(c))
        .join("\n");
}
