// The program's dynamic providers, by name. A resource's `__provider` text is a few hundred
// bytes that requires this package (components/providers/serialized.ts providerText), instead
// of a serialized closure of the provider's code. The dynamic-provider host loads that text
// with require-from-string, which resolves a bare name from the host's working directory (the
// project, under `pulumi up` and under the runner), so both find node_modules/bluegreen-providers:
// a `file:` dependency, linked here by npm. Node follows the link, so this loads the project's
// build in bin/, the code the program itself ran.

"use strict";
const path = require("path");

const BUILD = path.join(__dirname, "..", "..", "bin", "components", "providers", "index.js");

/**
 * The provider `name` of this build. `code` (the build's content hash of the provider code) is
 * in the text only so that a code change shows as a provider change; a text from an older state
 * loads today's code, as Pulumi expects of a dynamic provider's new version.
 */
function provider(name, code) {
    let registry;
    try {
        registry = require(BUILD).PROVIDERS;
    } catch (e) {
        throw new Error(`cannot load the providers of ${BUILD} (${e.message}); run npm run build in the project`);
    }
    const p = registry && Object.prototype.hasOwnProperty.call(registry, name) ? registry[name] : undefined;
    if (!p) throw new Error(`the build ${BUILD} has no provider ${JSON.stringify(name)} (wanted by code ${code}); run npm run build in the project`);
    return p;
}

module.exports = { provider, BUILD };
