// State loss: the deploy lock's check, when the lock is not in state (a first up, or a lost
// state), asks Incus what this stack has live, and refuses the run before any step unless
// the operator chose to adopt it (model/stateful/adoption.ts says what counts and what to say).

import { listInstances, volumeExists } from "../../io/incus";
import { progress } from "../../io/progress";
import { AdoptSource, LiveFinding, LiveVolume, adoptionNotice, stackInstances, stateLossRefusal } from "../../model/stateful/adoption";
import { refusal, refused } from "../../model/errors";
import { incusTarget } from "../../model/traffic/topology";

/** What the detection needs; the deploy lock carries it (each only when set, so older state keeps its inputs). */
export interface AdoptionInputs {
    readonly stack: string;
    readonly remote?: string;
    /** The configured stateful services' volumes: they outlive their containers. */
    readonly volumes?: readonly LiveVolume[];
    /** Set when the operator asked to adopt what is live. */
    readonly adopt?: AdoptSource;
}

/** What Incus holds of the stack. Throws when it cannot be asked. */
export async function findLive(i: AdoptionInputs): Promise<LiveFinding> {
    const target = incusTarget(i.remote);
    const instances = stackInstances(await listInstances(target), i.stack);
    const volumes: LiveVolume[] = [];
    for (const v of i.volumes ?? []) if (await volumeExists(target, v.pool, v.volume)) volumes.push(v);
    return { instances, volumes };
}

/**
 * The lock's check. With old inputs the lock is in state, so the state is the stack's. Without,
 * anything live of this stack means the state was lost (or written before the lock): refused,
 * in preview too, unless adopting, which is said before any step. Fails closed when Incus
 * cannot be read.
 */
export async function checkStateLoss(olds: Partial<AdoptionInputs> | undefined, news: AdoptionInputs): Promise<void> {
    if (olds && Object.keys(olds).length > 0) return;
    let found: LiveFinding;
    try {
        found = await findLive(news);
    } catch (e) {
        throw refusal({
            what: `cannot tell whether stack ${news.stack} is already live, so an up from its empty state could overwrite it: ${(e as Error).message}`,
            next: "start incusd (scripts/setup-host.sh) or make the Incus remote reachable, then run again",
            untouched: "Nothing was touched",
        });
    }
    if (found.instances.length === 0 && found.volumes.length === 0) return;
    if (!news.adopt) throw refused(stateLossRefusal(news.stack, found));
    progress(adoptionNotice(news.stack, found, news.adopt));
}
