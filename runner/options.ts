// Resource options as the SDK sends them (RegisterResourceRequest). The runner implements
// some and refuses the rest with a message, rather than ignoring them.

import type { AliasSpec } from "./urn";

export interface ResourceOptions {
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    readonly ignoreChanges: string[];
    /** Set only when the program set the option (`deleteBeforeReplaceDefined`). */
    readonly deleteBeforeReplace?: boolean;
    readonly additionalSecretOutputs: string[];
    readonly aliases: AliasSpec[];
    readonly replaceOnChanges: string[];
    /** customTimeouts in seconds, passed to the provider as the engine does. */
    readonly timeouts: { create: number; update: number; delete: number };
    /** Why the runner will not run this resource, when it will not. */
    readonly refusal?: string;
}

/** The parts of a RegisterResourceRequest this reads (the protobuf getters). */
export interface OptionRequest {
    getName(): string;
    getCustom(): boolean;
    hasProtect?(): boolean;
    getProtect(): boolean;
    hasRetainondelete?(): boolean;
    getRetainondelete(): boolean;
    getIgnorechangesList(): string[];
    getDeletebeforereplace(): boolean;
    getDeletebeforereplacedefined(): boolean;
    getAdditionalsecretoutputsList(): string[];
    getAliasesList(): { getUrn(): string; getSpec(): any; hasSpec?(): boolean }[];
    getAliasurnsList(): string[];
    getReplaceonchangesList(): string[];
    getImportid(): string;
    getProvider(): string;
    getDeletedwith(): string;
    getReplaceWithList(): string[];
    getHidediffsList(): string[];
    getTransformsList(): unknown[];
    getRemote(): boolean;
    hasHooks?(): boolean;
    getHooks?(): any;
    hasReplacementTrigger?(): boolean;
    getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
}

/** Go duration ("5m", "1h30m", "90s") in seconds. */
export function durationSeconds(d: string): number {
    if (!d) return 0;
    const re = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;
    let total = 0;
    let seen = "";
    for (let m = re.exec(d); m; m = re.exec(d)) {
        total += Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 0.001 }[m[2] as "h" | "m" | "s" | "ms"];
        seen += m[0];
    }
    if (seen !== d) throw new Error(`cannot parse the duration ${JSON.stringify(d)} (e.g. "5m", "1h30m")`);
    return total;
}

function aliasOf(a: { getUrn(): string; getSpec(): any }): AliasSpec {
    if (a.getUrn()) return { urn: a.getUrn() };
    const s = a.getSpec();
    if (!s) return {};
    return {
        name: s.getName() || undefined,
        type: s.getType() || undefined,
        stack: s.getStack() || undefined,
        project: s.getProject() || undefined,
        parentUrn: s.getParenturn() || undefined,
        noParent: s.getNoparent() || undefined,
    };
}

function hooksSet(req: OptionRequest): boolean {
    if (!req.hasHooks?.() || !req.getHooks) return false;
    const h = req.getHooks();
    const lists = [
        "getBeforecreateList",
        "getAftercreateList",
        "getBeforeupdateList",
        "getAfterupdateList",
        "getBeforedeleteList",
        "getAfterdeleteList",
        "getOnerrorList",
    ];
    return lists.some((g) => typeof h[g] === "function" && h[g]().length > 0);
}

/** Pure over the request: the options, or the first one the runner refuses. */
export function readOptions(req: OptionRequest, type: string): ResourceOptions {
    const refuse = (what: string, why: string) => `${type} ${req.getName()}: the offline runner does not support ${what}: ${why}`;
    let refusal: string | undefined;
    const ct = req.getCustomtimeouts();
    let timeouts = { create: 0, update: 0, delete: 0 };
    try {
        timeouts = ct
            ? { create: durationSeconds(ct.getCreate()), update: durationSeconds(ct.getUpdate()), delete: durationSeconds(ct.getDelete()) }
            : timeouts;
    } catch (e) {
        refusal = `${type} ${req.getName()}: customTimeouts: ${(e as Error).message}`;
    }
    if (req.getImportid()) refusal ??= refuse("import", "adopt the resource with the Pulumi CLI (pulumi import)");
    if (req.getProvider()) refusal ??= refuse("an explicit provider (the provider option)", "only default providers run here; remove the option");
    if (req.getDeletedwith()) refusal ??= refuse("deletedWith", "remove the option, or use the Pulumi CLI");
    if (req.getReplaceWithList().length > 0) refusal ??= refuse("replaceWith", "remove the option, or use the Pulumi CLI");
    if (req.hasReplacementTrigger?.()) refusal ??= refuse("replacementTrigger", "return the key in diff's `replaces` instead");
    if (req.getHidediffsList().length > 0) refusal ??= refuse("hideDiffs", "remove the option; secrets are masked in every diff anyway");
    if (req.getTransformsList().length > 0) refusal ??= refuse("transforms", "apply the change in the program itself");
    if (hooksSet(req)) refusal ??= refuse("resource hooks", "run the hook's work in a provider method");
    if (req.getRemote()) refusal ??= refuse("remote (multi-language) components", "use the Pulumi CLI");
    const aliases = [...req.getAliasesList().map(aliasOf), ...req.getAliasurnsList().map((urn) => ({ urn }))];
    return {
        protect: req.getProtect(),
        retainOnDelete: req.getRetainondelete(),
        ignoreChanges: req.getIgnorechangesList(),
        deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        aliases,
        replaceOnChanges: req.getReplaceonchangesList(),
        timeouts,
        refusal,
    };
}
