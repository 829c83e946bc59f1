// The one polling loop. Every wait in bluegreen is bounded both in time and in count.

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

export interface PollOptions {
    /** Pause between attempts. */
    readonly intervalMs: number;
    /** Give up once this much time has passed (checked before each pause). */
    readonly timeoutMs?: number;
    /** Give up after this many attempts; by default what the timeout allows. */
    readonly attempts?: number;
}

/**
 * Calls `step` until it returns a value (not undefined), or the bounds run out; then
 * returns undefined. `step` gets the attempt number, counted from 1.
 */
export async function poll<T>(step: (attempt: number) => Promise<T | undefined>, o: PollOptions): Promise<T | undefined> {
    const started = Date.now();
    const interval = Math.max(1, o.intervalMs);
    const attempts = o.attempts ?? Math.max(1, Math.ceil((o.timeoutMs ?? 0) / interval) + 1);
    for (let i = 1; i <= attempts; i++) {
        const v = await step(i);
        if (v !== undefined) return v;
        if (i === attempts || (o.timeoutMs !== undefined && Date.now() - started >= o.timeoutMs)) break;
        await sleep(interval);
    }
    return undefined;
}
