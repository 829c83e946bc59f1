// URNs as the engine builds them (pkg/resource/deploy/deployment.go generateURN): the
// parent's full qualified type, `$`, then the resource's type; the root stack's type is
// left out. MockMonitor uses only the immediate parent's type, which the runner's state
// files up to version 1 copied; `migrateUrns` rewrites those. Pure.

export const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/** `App$ColorStack$pulumi-nodejs:dynamic:Resource` of `urn:pulumi:s::p::App$ColorStack$...::name`. */
export function qualifiedType(urn: string): string {
    return urn.split("::")[2] ?? "";
}

export function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}

export function urnType(urn: string): string {
    return qualifiedType(urn).split("$").pop() ?? "";
}

export function makeUrn(stack: string, project: string, parentUrn: string | undefined, type: string, name: string): string {
    const parentType = parentUrn ? qualifiedType(parentUrn) : "";
    const t = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
    return `urn:pulumi:${stack}::${project}::${t}::${name}`;
}

interface Urned {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly parent?: string;
    readonly dependencies: readonly string[];
}

/**
 * Rewrites every URN (and parent and dependency reference) to the engine's form, from
 * each resource's type, name and parent chain. A state already in that form is returned
 * unchanged. Resources whose parent is missing keep their parent-less URN form.
 */
export function migrateUrns<T extends Urned>(resources: readonly T[], stack: string, project: string): T[] {
    const byOld = new Map(resources.map((r) => [r.urn, r]));
    const fresh = new Map<string, string>();
    const visiting = new Set<string>();
    const newUrn = (r: T): string => {
        const known = fresh.get(r.urn);
        if (known) return known;
        if (visiting.has(r.urn)) return r.urn; // a parent cycle cannot come from a program; leave it be
        visiting.add(r.urn);
        const parent = r.parent ? byOld.get(r.parent) : undefined;
        const parentUrn = parent ? newUrn(parent) : r.parent;
        const u = makeUrn(stack, project, parentUrn, r.type, r.name);
        visiting.delete(r.urn);
        fresh.set(r.urn, u);
        return u;
    };
    for (const r of resources) newUrn(r);
    const map = (u: string) => fresh.get(u) ?? u;
    return resources.map((r) => ({ ...r, urn: map(r.urn), parent: r.parent ? map(r.parent) : r.parent, dependencies: r.dependencies.map(map) }));
}

/** An alias as the SDK sends it (pulumirpc.Alias): a URN, or a spec whose blanks default to the resource's own. */
export interface AliasSpec {
    readonly urn?: string;
    readonly name?: string;
    readonly type?: string;
    readonly stack?: string;
    readonly project?: string;
    readonly parentUrn?: string;
    readonly noParent?: boolean;
}

export interface AliasContext {
    readonly stack: string;
    readonly project: string;
    /** URN -> the old URN it matched through an alias (the engine's sg.aliases). */
    readonly aliased: ReadonlyMap<string, string>;
}

/** The engine's collapseAliasToUrn. */
export function aliasUrn(name: string, type: string, parent: string | undefined, alias: AliasSpec, ctx: AliasContext): string {
    if (alias.urn) return alias.urn;
    let p = alias.parentUrn || parent;
    if (alias.parentUrn && ctx.aliased.has(alias.parentUrn)) p = ctx.aliased.get(alias.parentUrn);
    if (alias.noParent || (p && qualifiedType(p) === ROOT_STACK_TYPE)) p = undefined;
    return makeUrn(alias.stack || ctx.stack, alias.project || ctx.project, p, alias.type || type, alias.name || name);
}

/** The engine's generateAliases: the resource's own aliases, then those its parent's alias implies. */
export function aliasUrns(name: string, type: string, parent: string | undefined, aliases: readonly AliasSpec[], ctx: AliasContext): string[] {
    const out: string[] = [];
    const add = (u: string) => {
        if (!out.includes(u)) out.push(u);
    };
    for (const a of aliases) add(aliasUrn(name, type, parent, a, ctx));
    const parentAlias = parent ? ctx.aliased.get(parent) : undefined;
    if (parent && parentAlias) {
        const inherited = (childType: string, childName: string) => {
            const parentName = urnName(parent);
            const n = childName.startsWith(parentName) ? urnName(parentAlias) + childName.slice(parentName.length) : childName;
            return makeUrn(ctx.stack, ctx.project, parentAlias, childType, n);
        };
        add(inherited(type, name));
        for (const a of aliases) {
            const u = aliasUrn(name, type, parent, a, ctx);
            add(inherited(urnType(u), urnName(u)));
        }
    }
    return out;
}
