// scripts/build.js: the compiled build that `npm run local` runs is never stale.

import assert from "node:assert/strict";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require("../../scripts/build.js") as {
    plan(have: Manifest, want: Manifest): { compile: string[]; remove: string[] };
    fingerprint(): Manifest;
};

interface Manifest {
    settings: string;
    files: Record<string, string>;
}

describe("scripts/build.js", () => {
    it("plan compiles new and changed files, removes deleted ones, and everything when the settings change", () => {
        const have = { settings: "s1", files: { "a.ts": "1", "b.ts": "2", "gone.ts": "3" } };
        assert.deepEqual(build.plan(have, { settings: "s1", files: { "a.ts": "1", "b.ts": "9", "new.ts": "4" } }), {
            compile: ["b.ts", "new.ts"],
            remove: ["gone.ts"],
        });
        assert.deepEqual(build.plan(have, { settings: "s1", files: { "a.ts": "1", "b.ts": "2", "gone.ts": "3" } }), { compile: [], remove: [] });
        assert.deepEqual(build.plan(have, { settings: "s2", files: { "a.ts": "1" } }), { compile: ["a.ts"], remove: ["b.ts", "gone.ts"] });
        assert.deepEqual(build.plan({ settings: "", files: {} }, { settings: "s", files: { "x.ts": "1" } }).compile, ["x.ts"]);
    });

    it("fingerprints every source the runner loads by content", () => {
        const f = build.fingerprint();
        for (const file of ["index.ts", "runner/cli.ts", "runner/engine.ts", "components/release/traffic/switch.ts", "test/fixtures/engine-program/index.ts"]) {
            assert.match(f.files[file] ?? "", /^[0-9a-f]{40}$/, file);
        }
        assert.ok(!Object.keys(f.files).some((k) => k.startsWith("test/runner/")), "tests are not part of the build");
    });
});
