// Errors the providers throw. Each message says what to do instead.
// Factories, not classes: Pulumi's closure serializer turns classes into plain
// functions, and an Error subclass then loses its message in the provider host.

export interface InitFailure extends Error {
    readonly id: string;
    readonly properties: Record<string, unknown>;
    readonly reasons: string[];
}

/** A refusal: nothing was touched, and the message names the safe alternative. */
export function refused(message: string): Error {
    const e = new Error(message);
    e.name = "RefusedError";
    return e;
}

export function isRefused(e: unknown): boolean {
    return e instanceof Error && e.name === "RefusedError";
}

/**
 * A partial failure: the resource exists but is not healthy. Pulumi's engine keeps
 * a resource in state under `id` when create or update throws an error carrying one.
 */
export function initFailure(message: string, id: string, properties: Record<string, unknown>, reasons: string[] = [message]): InitFailure {
    const e = new Error(message) as Error & { id: string; properties: Record<string, unknown>; reasons: string[] };
    e.name = "InitError";
    e.id = id;
    e.properties = properties;
    e.reasons = reasons;
    return e;
}

/** What every refusal says: what happened, what was left untouched, what to do next. */
export interface Refusal {
    /** What was refused, and why. */
    readonly what: string;
    /** Actions that really work, e.g. "set bluegreen:active: blue". Joined with ", or ". */
    readonly next: string | readonly string[];
    /** What was not touched, e.g. "HAProxy was not touched". */
    readonly untouched?: string;
}

function sentence(s: string): string {
    const t = s.trim();
    return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Pure: a refusal's message, in the fixed order what, next, untouched. */
export function refusalMessage(r: Refusal): string {
    const next = typeof r.next === "string" ? r.next : r.next.join(", or ");
    return [r.what, next, r.untouched]
        .filter((s): s is string => !!s && s.trim().length > 0)
        .map(sentence)
        .join(" ");
}

/** A refusal error built from its parts, so every operation words it the same way. */
export function refusal(r: Refusal): Error {
    return refused(refusalMessage(r));
}
