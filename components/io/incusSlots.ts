// The provider host's one semaphore for heavy Incus work (a container's create, install and
// start; its delete): bluegreen:incus.parallel at once. Every resource of an up runs in one
// host process, under `pulumi up` as under the runner; the instance lives on globalThis so a
// provider loaded as a serialized closure (README: Provider code in state) shares it too.

import { Slots } from "../model/slots";

/** Incus on 2 cores: README "Scale". */
export const DEFAULT_INCUS_PARALLEL = 4;

// By a string, as io/exec.ts's INCUS_CONF: a serialized closure carries no symbols.
const KEY = "__bluegreenIncusSlots";

export function incusSlots(): Slots {
    const g = globalThis as unknown as Record<string, Slots | undefined>;
    return (g[KEY] ??= new Slots());
}

/** Runs `fn` in one of the host's Incus slots. */
export function withIncusSlot<T>(limit: number | undefined, fn: () => Promise<T>): Promise<T> {
    return incusSlots().run(limit ?? DEFAULT_INCUS_PARALLEL, fn);
}
