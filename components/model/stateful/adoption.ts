// State loss (issue 20): an `up` whose state is empty over a stack that Incus says is live.
// Every resource would be a create, and a create trusts what it finds; so the deploy lock,
// the first resource, refuses it before any step unless the operator chose to adopt. Pure.

import * as crypto from "crypto";
import { ConfigError } from "../config";
import { refusalMessage } from "../errors";

/** An Incus instance as the detection reads it. */
export interface LiveInstance {
    readonly name: string;
    readonly status: string;
    readonly config: Readonly<Record<string, string>>;
}

/** A custom volume of a configured stateful service. */
export interface LiveVolume {
    readonly pool: string;
    readonly volume: string;
}

/** What Incus holds of a stack. */
export interface LiveFinding {
    readonly instances: readonly LiveInstance[];
    readonly volumes: readonly LiveVolume[];
}

/** Where adoption was asked for: `bluegreen:adopt: true`, or `BLUEGREEN_ADOPT=1` for one run. */
export type AdoptSource = "config" | "env";

/** Pure: the instances bluegreen labelled with this stack (containers, stateful services, the HAProxy instance), by name. */
export function stackInstances(all: readonly LiveInstance[], stack: string): LiveInstance[] {
    return all
        .filter((i) => i.config["user.bluegreen.managed"] === "true" && i.config["user.bluegreen.stack"] === stack)
        .sort((a, b) => a.name.localeCompare(b.name));
}

/** The label that says which secret environment a container was given, never what it holds. */
export const SECRET_ENV_LABEL = "user.bluegreen.secret-env";

/**
 * Pure: the secret environment file's digest, for the label. Domain-separated, and over the
 * stack and the container's name as well as the file, so the label is no bare hash of a
 * short secret: it matches nothing computed for another purpose or another container.
 */
export function secretEnvDigest(stack: string, container: string, file: string): string {
    return crypto.createHash("sha256").update(`bluegreen secret-env v1\0${stack}\0${container}\0`).update(file).digest("hex");
}

const LISTED = 20;

function describeInstance(i: LiveInstance): string {
    const what = i.config["user.bluegreen.release"] ? `release ${i.config["user.bluegreen.release"]}` : (i.config["user.bluegreen.role"] ?? "bluegreen");
    return `${i.name} (${i.status}, ${what})`;
}

/** Pure: the live instances and volumes in one line, at most LISTED of them. */
export function describeLive(f: LiveFinding): string {
    const all = [...f.instances.map(describeInstance), ...f.volumes.map((v) => `volume ${v.pool}/${v.volume}`)];
    const more = all.length > LISTED ? `, and ${all.length - LISTED} more` : "";
    return all.slice(0, LISTED).join(", ") + more;
}

/** Pure: the refusal of an up (or preview) from an empty state over a live stack. */
export function stateLossRefusal(stack: string, f: LiveFinding): string {
    return refusalMessage({
        what:
            `stack ${stack} has no state here (this run would create its deploy lock), but Incus holds what it deployed: ${describeLive(f)}. ` +
            `An up from an empty state treats each as new, and a create trusts what it finds`,
        next: [
            `Point PULUMI_BACKEND_URL at the stack's real state (the backend the last up used; see the README's State backend) and run again`,
            `adopt what is live after reading the preview: set bluegreen:adopt: true (a config change, so a pull request shows it) and run preview, then up, ` +
                `or set BLUEGREEN_ADOPT=1 for one run; a container is then kept only if its release, env and secrets match the config, and a stateful service goes through its guarded upgrade. ` +
                `State written before bluegreen had the deploy lock is refused the same way: BLUEGREEN_ADOPT=1 for that one up is safe`,
        ],
        untouched: "Nothing was touched",
    });
}

/** Pure: what an adopting run says before any step, in preview too. */
export function adoptionNotice(stack: string, f: LiveFinding, source: AdoptSource): string {
    const why = source === "config" ? "bluegreen:adopt: true" : "BLUEGREEN_ADOPT=1";
    const after = source === "config" ? "; remove bluegreen:adopt once this up succeeded, so a state lost later is refused again" : "";
    return (
        `adopt: stack ${stack} has no state here; adopting what Incus holds (${why}): ${describeLive(f)}. ` +
        `A container is kept only if its release, env and secrets match the config (else the color that does not serve is replaced, and the one that serves keeps what it runs until traffic moves off it); ` +
        `a stateful service on existing volumes goes through its guarded upgrade; hooks run again, as on a first up${after}`
    );
}

/** Pure: BLUEGREEN_ADOPT as the program reads it: `1` (or `true`) adopts for this run. */
export function adoptFromEnv(value: string | undefined): boolean {
    if (value === undefined || value === "" || value === "0") return false;
    if (value === "1" || value === "true") return true;
    throw new ConfigError([`BLUEGREEN_ADOPT: expected 1 (adopt what is live, for this run) or unset; got ${JSON.stringify(value.slice(0, 40))}`]);
}
