// Start-up time is most of a fast rollback, and @pulumi/pulumi loads modules at start that
// a run never calls: computeCodePaths (with npm's Arborist, for packaging lambdas) and
// TypeScript (only used to serialize functions: the host never does, and the runner only
// when the build has no serialized providers, see components/providers/serialized.ts).
// These stubs load the real module on first use, so behaviour does not change.

/**
 * Puts lazy stand-ins in the module cache. Written without TypeScript-only syntax in its
 * body: runner/host.ts sends its source to the host process as a preload.
 */
export function installLazyModules(req: NodeRequire, sdkDir: string, stubTypescript: boolean): void {
    const Module = req("module");
    const path = req("path");
    const cache = req.cache;
    const stub = (file: string, makeExports: (load: () => any) => unknown) => {
        if (cache[file]) return;
        let real: any;
        const load = () => {
            if (!real) {
                delete cache[file];
                real = req(file);
            }
            return real;
        };
        const m = new Module(file);
        m.filename = file;
        m.loaded = true;
        m.exports = makeExports(load);
        cache[file] = m;
    };
    stub(path.join(sdkDir, "runtime", "closure", "codePaths.js"), (load) => ({
        computeCodePaths: (...a: unknown[]) => load().computeCodePaths(...a),
        findWorkspaceRoot: (...a: unknown[]) => load().findWorkspaceRoot(...a),
    }));
    if (stubTypescript) {
        stub(
            path.join(sdkDir, "typescript-shim.js"),
            (load) =>
                new Proxy(
                    {},
                    {
                        get: (_t, k) => load()[k],
                        has: (_t, k) => k in load(),
                        ownKeys: () => Reflect.ownKeys(load()),
                        getOwnPropertyDescriptor: (_t, k) => Object.getOwnPropertyDescriptor(load(), k),
                    },
                ),
        );
    }
}

/** The SDK's directory. */
export function sdkDir(): string {
    return require("path").dirname(require.resolve("@pulumi/pulumi/package.json"));
}
