// The provider text: a dynamic resource carries its provider as code (`__provider`), which
// the dynamic-provider host loads with require-from-string and calls `.handler()` on. The SDK
// serializes the provider's whole closure: 20-150 KB per resource, kept in its inputs and
// outputs and sent several times per step. A run of the build puts a few hundred bytes there
// instead (providerText): a require of the bluegreen-providers package by name, which loads
// this build's registry, and the build's hash of the provider code (scripts/build.js
// providerCode), so a code change still shows as a provider change. Hand-written, not the
// SDK's serializer: that inlines every module whose real path is outside node_modules, and a
// `file:` dependency is a link into the project. Used only when the host will load the same
// code: a build whose file is current, and the package resolving to this checkout from the
// working directory, as the host resolves it. Anything else serializes as the SDK does.

import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

/** The package the short texts require (packages/bluegreen-providers, a `file:` dependency). */
export const PROVIDER_PACKAGE = "bluegreen-providers";

export interface SerializedProviders {
    /** The key of the build that wrote it (scripts/build.js serializedKey: its manifest, the SDK, Node). */
    readonly key: string;
    /** The build's content hash of the provider code (scripts/build.js providerCode). */
    readonly code: string;
}

interface BuildScript {
    readonly SERIALIZED: string;
    readonly ROOT: string;
    readonly OUT: string;
    serializedKey(): string;
    isFresh(): boolean;
}

/** Pure: the `__provider` text of provider `name` of a build whose provider code hashes to `code`. */
export function providerText(name: string, code: string): string {
    const args = [name, code].map((a) => JSON.stringify(a)).join(", ");
    return `// bluegreen's provider ${name}, code ${code}: loaded by name from the project (README: Provider code in state)
exports.handler = () => require(${JSON.stringify(PROVIDER_PACKAGE)}).provider(${args});
`;
}

/** Pure: the text for a provider, only from a file of this very build. */
export function pick(file: SerializedProviders | undefined, key: string, name: string | undefined): string | undefined {
    if (!file || file.key !== key || name === undefined || typeof file.code !== "string" || file.code === "") return undefined;
    return providerText(name, file.code);
}

/**
 * scripts/build.js of the build whose code the host would load: this module's own build
 * (bin/components/providers/), or, run from the sources (ts-node, the Pulumi CLI on
 * index.ts), the checkout's build when it is fresh.
 */
function buildScript(): BuildScript | undefined {
    const here = path.resolve(__dirname, "..", "..");
    const fromBin = path.basename(here) === "bin";
    const script = path.join(fromBin ? path.join(here, "..") : here, "scripts", "build.js");
    if (!fs.existsSync(script)) return undefined;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require(script) as BuildScript;
    if (fromBin) return path.resolve(b.OUT) === here ? b : undefined;
    return path.resolve(b.ROOT) === here && b.isFresh() ? b : undefined;
}

/** Whether the host, started in this working directory, would load `root`'s package (and so its build). */
function linkedTo(root: string): boolean {
    try {
        const found = require.resolve(PROVIDER_PACKAGE, { paths: [process.cwd()] });
        return fs.realpathSync(found) === fs.realpathSync(path.join(root, "packages", PROVIDER_PACKAGE, "index.js"));
    } catch {
        return false; // not installed (npm install links it), or another checkout's
    }
}

/** The build's file and the current key, read once per process; undefined when not running from a build. */
let loaded: { key: string; file?: SerializedProviders } | undefined;
let looked = false;

function loadFile(): { key: string; file?: SerializedProviders } | undefined {
    if (looked) return loaded;
    looked = true;
    try {
        const b = buildScript();
        if (!b || !linkedTo(b.ROOT)) return undefined;
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

/** `__provider` for a resource: the short text when the host loads this build, else the SDK's serialization (once per provider, as the SDK caches). */
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
 * pulumi.dynamic.Resource, with `__provider` from serializedProvider: the same type token and
 * the same property, which the provider host loads as it loads the SDK's text.
 */
export abstract class DynamicResource extends pulumi.CustomResource {
    constructor(provider: pulumi.dynamic.ResourceProvider, name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
        if (props.__provider) throw new Error("A dynamic resource must not define the __provider key");
        super("pulumi-nodejs:dynamic:Resource", name, { ...props, __provider: serializedProvider(provider) }, opts);
    }
}
