// A counting semaphore: at most `limit` holders at once, the others wait in order. No I/O.
// The limit comes with each call (every resource carries the stack's setting), so a changed
// setting applies to the calls that come after it.

export class Slots {
    private active = 0;
    private readonly waiting: { limit: number; go: () => void }[] = [];
    /** The most holders seen at once (for tests and the benchmark). */
    peak = 0;

    get running(): number {
        return this.active;
    }

    get queued(): number {
        return this.waiting.length;
    }

    /** Runs `fn` once fewer than `limit` others run; its slot is freed when it settles, thrown or not. */
    async run<T>(limit: number, fn: () => Promise<T>): Promise<T> {
        const max = Math.max(1, Math.floor(limit));
        if (this.active >= max || this.waiting.length > 0) await new Promise<void>((go) => this.waiting.push({ limit: max, go }));
        else this.active++;
        this.peak = Math.max(this.peak, this.active);
        try {
            return await fn();
        } finally {
            this.active--;
            this.next();
        }
    }

    private next(): void {
        // In order: the first waiter goes when its own limit allows.
        while (this.waiting.length > 0 && this.active < this.waiting[0]!.limit) {
            this.active++;
            this.waiting.shift()!.go();
        }
    }
}
