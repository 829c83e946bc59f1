// The serialized provider: a dynamic resource carries its provider as code (`__provider`),
// which the SDK serializes from the live closure with V8's inspector and TypeScript's
// parser. That took about 0.8 s of a 2.5 s fast rollback, and gives the same text on every
// run of the same build. So the build serializes each provider once (scripts/build.js
// calls writeSerialized), and a run of that build takes the text from the file. Anything
// else (ts-node, the Pulumi CLI on index.ts, a stale or missing file) serializes as the SDK does.

import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

export interface SerializedProviders {
    /** The key of the build that wrote it (scripts/build.js serializedKey: its manifest, the SDK, Node). */
    readonly key: string;
    readonly texts: Readonly<Record<string, string>>;
}

interface BuildScript {
    readonly SERIALIZED: string;
    serializedKey(): string;
}

/** Pure: the text for a provider, only from a file of this very build. */
export function pick(file: SerializedProviders | undefined, key: string, name: string | undefined): string | undefined {
    if (!file || file.key !== key || name === undefined) return undefined;
    return file.texts[name];
}

/** scripts/build.js, when this module runs from the build it writes (bin/components/providers/). */
function buildScript(): BuildScript | undefined {
    const bin = path.resolve(__dirname, "..", "..");
    const script = path.join(bin, "..", "scripts", "build.js");
    if (path.basename(bin) !== "bin" || !fs.existsSync(script)) return undefined;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require(script) as BuildScript & { OUT: string };
    return path.resolve(b.OUT) === bin ? b : undefined;
}

/** The build's file and the current key, read once per process; undefined when not running from a build. */
let loaded: { key: string; file?: SerializedProviders } | undefined;
let looked = false;

function loadFile(): { key: string; file?: SerializedProviders } | undefined {
    if (looked) return loaded;
    looked = true;
    try {
        const b = buildScript();
        if (!b) return undefined;
        let file: SerializedProviders | undefined;
        try {
            file = JSON.parse(fs.readFileSync(b.SERIALIZED, "utf8")) as SerializedProviders;
        } catch {
            file = undefined; // not written (yet): serialize as the SDK does
        }
        loaded = { key: b.serializedKey(), file };
    } catch {
        // no readable build: serialize as the SDK does
    }
    return loaded;
}

function registryName(provider: pulumi.dynamic.ResourceProvider): string | undefined {
    // Required here, not at the top: every provider module imports this one.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PROVIDERS } = require("./index") as typeof import("./index");
    return Object.entries(PROVIDERS).find(([, p]) => p === provider)?.[0];
}

/**
 * The SDK's own call (dynamic.Resource's serializeFunctionMaybeSecret). The captured
 * variable must be named `provider`, as there: the name is part of the text.
 */
function serialize(provider: pulumi.dynamic.ResourceProvider): Promise<pulumi.runtime.SerializedFunction> {
    return pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
}

function sdkSerialize(provider: pulumi.dynamic.ResourceProvider): pulumi.Output<string> {
    return pulumi.output(serialize(provider)).apply((s) => (s.containsSecrets ? pulumi.secret(s.text) : pulumi.output(s.text)));
}

const cache = new WeakMap<pulumi.dynamic.ResourceProvider, pulumi.Input<string>>();

/** `__provider` for a resource: the build's text when it is this build's, else the SDK's serialization (once per provider, as the SDK caches). */
export function serializedProvider(provider: pulumi.dynamic.ResourceProvider): pulumi.Input<string> {
    let text = cache.get(provider);
    if (text === undefined) {
        const f = loadFile();
        text = (f && pick(f.file, f.key, registryName(provider))) ?? sdkSerialize(provider);
        cache.set(provider, text);
    }
    return text;
}

/**
 * pulumi.dynamic.Resource, with `__provider` from serializedProvider: the same type token,
 * the same property, the same text; the engine and the provider host see no difference.
 */
export abstract class DynamicResource extends pulumi.CustomResource {
    constructor(provider: pulumi.dynamic.ResourceProvider, name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
        if (props.__provider) throw new Error("A dynamic resource must not define the __provider key");
        super("pulumi-nodejs:dynamic:Resource", name, { ...props, __provider: serializedProvider(provider) }, opts);
    }
}

/** The build's step (scripts/build.js runs it in a child): serializes every provider of the registry and writes them under `key`, atomically. */
export async function writeSerialized(file: string, key: string): Promise<number> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PROVIDERS } = require("./index") as typeof import("./index");
    const texts: Record<string, string> = {};
    for (const [name, provider] of Object.entries(PROVIDERS)) {
        const sf = await serialize(provider);
        if (!sf.containsSecrets) texts[name] = sf.text; // a secret text is left to the run, which marks it secret
    }
    const out: SerializedProviders = { key, texts };
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(out));
    fs.renameSync(tmp, file);
    return Object.keys(texts).length;
}
