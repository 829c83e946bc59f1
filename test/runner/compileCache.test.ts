// runner/compileCache.ts: a module loaded through V8's code cache behaves as Node loads it,
// the cache is written one file per module, and a damaged entry only costs a compile.

import assert from "node:assert/strict";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { OUT, build } = require(path.join(ROOT, "scripts", "build.js")) as { OUT: string; build(): number };

describe("runner/compileCache", function () {
    this.timeout(60_000);
    let dir: string;
    let cache: string;

    beforeEach(() => {
        build();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "bg-compile-cache-"));
        cache = path.join(dir, "cache");
        fs.writeFileSync(path.join(dir, "dep.js"), "exports.value = 41;\n");
        fs.writeFileSync(
            path.join(dir, "mod.js"),
            [
                "const dep = require('./dep');",
                "module.exports = {",
                "  answer: dep.value + 1,",
                "  file: __filename,",
                "  dir: __dirname,",
                "  resolved: require.resolve('./dep'),",
                "  paths: Array.isArray(require.resolve.paths('x')),",
                "  cached: require.cache[require.resolve('./dep')] !== undefined,",
                "  self: module.exports === exports,",
                "  stack: new Error('here').stack.split('\\n')[1],",
                "};",
            ].join("\n"),
        );
        fs.writeFileSync(
            path.join(dir, "main.js"),
            `require(${JSON.stringify(path.join(OUT, "runner", "compileCache.js"))}).installCompileCache(require, ${JSON.stringify(cache)});\n` +
                "process.stdout.write(JSON.stringify(require('./mod')));\n",
        );
    });

    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = () => JSON.parse(execFileSync(process.execPath, [path.join(dir, "main.js")], { encoding: "utf8" }));

    it("leaves an ES module to Node: a package's module-sync export (require(esm), Node 20.19+) loads as without the cache", () => {
        // get-intrinsic (via axios, under acme-client) requires async-function, whose module-sync export is require.mjs.
        fs.mkdirSync(path.join(dir, "node_modules", "esm-dep"), { recursive: true });
        fs.writeFileSync(
            path.join(dir, "node_modules", "esm-dep", "package.json"),
            JSON.stringify({ name: "esm-dep", exports: { ".": [{ "module-sync": "./require.mjs", default: "./index.js" }, "./index.js"] } }),
        );
        fs.writeFileSync(path.join(dir, "node_modules", "esm-dep", "require.mjs"), "import value from './index.js';\nexport default value;\n");
        fs.writeFileSync(path.join(dir, "node_modules", "esm-dep", "index.js"), "module.exports = 7;\n");
        const main = path.join(dir, "esm-main.js");
        const load = "let v = require('esm-dep'); if (v && v.default !== undefined) v = v.default; process.stdout.write(JSON.stringify(v));\n";
        fs.writeFileSync(path.join(dir, "plain.js"), load);
        fs.writeFileSync(
            main,
            `require(${JSON.stringify(path.join(OUT, "runner", "compileCache.js"))}).installCompileCache(require, ${JSON.stringify(cache)});\n` + load,
        );
        const without = execFileSync(process.execPath, [path.join(dir, "plain.js")], { encoding: "utf8" });
        assert.equal(execFileSync(process.execPath, [main], { encoding: "utf8" }), without);
    });

    it("loads modules as Node does and writes one entry per module", () => {
        const first = run();
        assert.equal(first.answer, 42);
        assert.equal(first.file, path.join(dir, "mod.js"));
        assert.equal(first.dir, dir);
        assert.equal(first.resolved, path.join(dir, "dep.js"));
        assert.equal(first.paths, true);
        assert.equal(first.cached, true);
        assert.equal(first.self, true);
        assert.match(first.stack, /mod\.js:10:/, "line numbers are the file's own");
        const entries = fs.readdirSync(cache);
        assert.equal(entries.length, 2, `one entry each for mod.js and dep.js: ${entries.join(", ")}`);
        assert.ok(!entries.some((e) => e.endsWith(".tmp")), "entries are renamed into place");
        assert.deepEqual(run(), first, "the second load, from the cache, gives the same module");
    });

    it("a damaged entry is compiled again and replaced; a changed file gets a new entry", () => {
        run();
        for (const e of fs.readdirSync(cache)) fs.writeFileSync(path.join(cache, e), "not a code cache");
        assert.equal(run().answer, 42);
        for (const e of fs.readdirSync(cache)) assert.notEqual(fs.readFileSync(path.join(cache, e), "utf8"), "not a code cache", e);
        fs.writeFileSync(path.join(dir, "dep.js"), "exports.value = 1;\n");
        assert.equal(run().answer, 2, "an entry is named by content, so an edit is never served old code");
        assert.equal(fs.readdirSync(cache).length, 3);
    });
});
