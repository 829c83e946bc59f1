// V8's code cache for the modules a run loads (the SDK, gRPC, the program): loading the SDK
// went from about 320 ms to 200 ms, in the runner and in the provider host alike, both on
// the critical path of a fast rollback. Node 22 has this built in (module.enableCompileCache);
// Node 20 does not. v8-compile-cache-lib does the same, but writes one shared blob at exit,
// not atomically, while parallel runs read it; here each module is its own file, named by
// the hash of its path and content and written by rename, so a reader never sees half of
// one, and V8 itself rejects data that does not fit (then the module compiles as usual).

/**
 * Installs the cache in this process. Written without TypeScript-only syntax in its body:
 * runner/host.ts sends its source to the host process as a preload.
 */
export function installCompileCache(req: NodeRequire, dir: string): void {
    const Module = req("module");
    if (Module.prototype._compile.bluegreenCache !== undefined) return;
    const vm = req("vm");
    const fs = req("fs");
    const path = req("path");
    const crypto = req("crypto");
    const original = Module.prototype._compile;
    try {
        fs.mkdirSync(dir, { recursive: true });
    } catch {
        return; // no cache, same behaviour
    }
    const compile = function (this: any, content: string, filename: string, format?: string) {
        // A shebang line, and code that uses import(), which a vm.Script cannot run without a callback;
        // an ES module (require(esm) in Node 20.19+: a package's module-sync export) is Node's to load.
        if (content.startsWith("#!") || content.includes("import(") || format === "module" || filename.endsWith(".mjs")) {
            return original.call(this, content, filename, format);
        }
        const key = path.join(dir, crypto.createHash("sha1").update(filename).update("\0").update(content).digest("hex"));
        let cached: Buffer | undefined;
        try {
            cached = fs.readFileSync(key);
        } catch {
            cached = undefined;
        }
        const script = new vm.Script(Module.wrap(content), { filename, cachedData: cached });
        if (cached === undefined || script.cachedDataRejected) {
            try {
                const tmp = `${key}.${process.pid}.tmp`;
                fs.writeFileSync(tmp, script.createCachedData());
                fs.renameSync(tmp, key);
            } catch {
                // read-only or full: still runs
            }
        }
        const mod = this; // eslint-disable-line @typescript-eslint/no-this-alias
        const require = function (id: string) {
            return mod.require(id);
        } as NodeRequire;
        const resolve = function (request: string, options?: { paths?: string[] }) {
            return Module._resolveFilename(request, mod, false, options);
        } as NodeRequire["resolve"];
        resolve.paths = (request: string) => Module._resolveLookupPaths(request, mod, true);
        require.resolve = resolve;
        require.main = process.mainModule;
        require.extensions = Module._extensions;
        require.cache = Module._cache;
        const fn = script.runInThisContext({ displayErrors: true });
        return fn.call(mod.exports, mod.exports, require, mod, filename, path.dirname(filename));
    };
    compile.bluegreenCache = dir;
    Module.prototype._compile = compile;
}

/** The directory of the cache installed in this process, if any: the provider host uses the same one. */
export function installedCompileCache(): string | undefined {
    return (require("module").prototype._compile as { bluegreenCache?: string }).bluegreenCache;
}
