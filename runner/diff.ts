// Property diffs for preview and refresh output. Pure.

const PROVIDER_KEY = "__provider";

/** Top-level keys whose values differ (by JSON). */
export function diffKeys(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
    const keys = new Set([...Object.keys(olds ?? {}), ...Object.keys(news ?? {})]);
    return [...keys].filter((k) => JSON.stringify(olds?.[k]) !== JSON.stringify(news?.[k])).sort();
}

function show(v: unknown): string {
    const s = JSON.stringify(v);
    return s === undefined ? "undefined" : s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * One line per changed key: `~ key: old => new`, `+ key: new`, `- key: old`.
 * Keys in `replaces` are marked; keys in `secret` never show their values.
 */
export function describeDiff(
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
    replaces: readonly string[] = [],
    indent = "",
    secret: ReadonlySet<string> = new Set(),
): string {
    const lines: string[] = [];
    for (const k of diffKeys(olds, news)) {
        const mark = replaces.includes(k) ? " [replace]" : "";
        if (k === PROVIDER_KEY) {
            lines.push(`${indent}~ ${k}: (provider code changed)`);
            continue;
        }
        const o = secret.has(k) ? "[secret]" : show(olds?.[k]);
        const n = secret.has(k) ? "[secret]" : show(news?.[k]);
        if (!(k in (olds ?? {}))) lines.push(`${indent}+ ${k}: ${n}${mark}`);
        else if (!(k in (news ?? {}))) lines.push(`${indent}- ${k}: ${o}${mark}`);
        else lines.push(`${indent}~ ${k}: ${o} => ${n}${mark}`);
    }
    return lines.join("\n");
}
