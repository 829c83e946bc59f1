// Compiles the program, its components and the runner to JavaScript in bin/, file by file
// (TypeScript's transpileModule: no type check, as ts-node --transpile-only did), so
// `npm run local` starts without compiling at run time. Kept in sync by content: a file
// whose SHA-1 differs from the manifest is compiled again, a removed one is removed, so a
// stale build never runs. `npm ci` runs it (prepare); `scripts/local.js` runs it each time.
// Then it hashes the provider code of that build, for the providers' short `__provider`
// texts (components/providers/serialized.ts).
//
//   node scripts/build.js          build what changed; prints nothing when nothing did
//   node scripts/build.js --check  exit 1 if the build is stale (changes nothing)

"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const OUT = path.join(ROOT, "bin");
const MANIFEST = path.join(OUT, ".manifest.json");
const LOCK = path.join(OUT, ".build-lock");
/** The build's provider code hash, and the key it was made for (read without parsing it). */
const SERIALIZED = path.join(OUT, ".providers.json");
const SERIALIZED_KEY = path.join(OUT, ".providers.key");
/** runner/compileCache.ts's entries, named by content: emptied by every build that compiles. */
const COMPILE_CACHE = path.join(OUT, ".compile-cache");
/** What `npm run local` loads: the program, its components, the runner, the operator verbs, the test fixture programs. */
const SOURCES = ["index.ts", "components", "runner", "ops", "example-app", "test/fixtures"];
const LOCK_WAIT_MS = 120_000;

function walk(rel, out) {
    const abs = path.join(ROOT, rel);
    let st;
    try {
        st = fs.statSync(abs);
    } catch {
        return out;
    }
    if (st.isDirectory()) {
        for (const e of fs.readdirSync(abs).sort()) if (e !== "node_modules") walk(path.join(rel, e), out);
    } else if (rel.endsWith(".ts") && !rel.endsWith(".d.ts")) {
        out.push(rel);
    }
    return out;
}

/** File -> SHA-1 of its content, plus the compiler settings and compiler version. */
function fingerprint() {
    const files = {};
    for (const rel of SOURCES.flatMap((s) => walk(s, [])))
        files[rel] = crypto
            .createHash("sha1")
            .update(fs.readFileSync(path.join(ROOT, rel)))
            .digest("hex");
    const tsconfig = fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8");
    const tsVersion = JSON.parse(fs.readFileSync(require.resolve("typescript/package.json", { paths: [ROOT] }), "utf8")).version;
    return {
        settings: crypto
            .createHash("sha1")
            .update(tsconfig + tsVersion + fs.readFileSync(__filename, "utf8"))
            .digest("hex"),
        files,
    };
}

function readManifest() {
    try {
        return JSON.parse(fs.readFileSync(MANIFEST, "utf8"));
    } catch {
        return { settings: "", files: {} };
    }
}

/** Pure: what to compile and what to remove to go from `have` to `want`. */
function plan(have, want) {
    const all = have.settings !== want.settings;
    const compile = Object.keys(want.files).filter((f) => all || have.files[f] !== want.files[f]);
    const remove = Object.keys(have.files).filter((f) => !(f in want.files));
    return { compile, remove };
}

function outFile(rel) {
    return path.join(OUT, rel.replace(/\.ts$/, ".js"));
}

function compilerOptions(ts) {
    const { config } = ts.readConfigFile(path.join(ROOT, "tsconfig.json"), ts.sys.readFile);
    const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions ?? {}, ROOT);
    return { ...options, sourceMap: false, inlineSourceMap: true, inlineSources: false, declaration: false, noEmit: false };
}

function withLock(f) {
    fs.mkdirSync(OUT, { recursive: true });
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let i = 0; ; i++) {
        try {
            fs.mkdirSync(LOCK);
            fs.writeFileSync(path.join(LOCK, "pid"), String(process.pid));
            break;
        } catch (e) {
            if (e.code !== "EEXIST") throw e;
            let pid = 0;
            try {
                pid = Number(fs.readFileSync(path.join(LOCK, "pid"), "utf8"));
            } catch {
                // being written
            }
            let alive = false;
            try {
                if (pid) process.kill(pid, 0);
                alive = pid > 0;
            } catch (err) {
                alive = err.code === "EPERM";
            }
            if (pid && !alive)
                fs.rmSync(LOCK, { recursive: true, force: true }); // left by a killed build
            else if (Date.now() > deadline || i > 100_000) throw new Error(`another build holds ${LOCK} (pid ${pid}); wait for it or remove the directory`);
            else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        }
    }
    try {
        return f();
    } finally {
        fs.rmSync(LOCK, { recursive: true, force: true });
    }
}

/** The key of this build's provider file: its manifest (the code), the SDK and Node. */
function serializedKey() {
    let manifest = "";
    try {
        manifest = fs.readFileSync(MANIFEST, "utf8");
    } catch {
        // no build yet
    }
    const sdk = fs.readFileSync(require.resolve("@pulumi/pulumi/package.json", { paths: [ROOT] }), "utf8");
    return crypto
        .createHash("sha1")
        .update(`${manifest}\0${JSON.parse(sdk).version}\0${process.version}`)
        .digest("hex");
}

function serializedCurrent() {
    try {
        return fs.readFileSync(SERIALIZED_KEY, "utf8") === serializedKey();
    } catch {
        return false;
    }
}

/**
 * The content hash of the provider code: the sources of every file of the build that
 * bin/components/providers/index.js reaches through relative requires. By the sources'
 * SHA-1s, not the compiled files, whose source maps name this checkout's paths.
 */
function providerCode(manifest) {
    const seen = new Set();
    const todo = [path.join(OUT, "components", "providers", "index.js")];
    while (todo.length > 0) {
        const file = todo.pop();
        if (seen.has(file)) continue;
        seen.add(file);
        const text = fs.readFileSync(file, "utf8");
        for (const m of text.matchAll(/require\("(\.\.?\/[^"]*)"\)/g)) {
            const base = path.resolve(path.dirname(file), m[1]);
            const found = [base, `${base}.js`, path.join(base, "index.js")].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
            if (found) todo.push(found);
        }
    }
    const lines = [...seen]
        .map((f) => {
            const src = path.relative(OUT, f).replace(/\.js$/, ".ts").split(path.sep).join("/");
            return `${src}\0${manifest.files[src] ?? crypto.createHash("sha1").update(fs.readFileSync(f)).digest("hex")}`;
        })
        .sort();
    return crypto.createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 20);
}

/**
 * Writes what a run puts in each provider's `__provider` text (components/providers/
 * serialized.ts): the hash of the provider code, under the build's key. A failure is only
 * reported: a run then serializes the providers as the SDK does, slower and larger.
 */
function serializeProviders() {
    const key = serializedKey();
    try {
        const out = JSON.stringify({ key, code: providerCode(readManifest()) });
        for (const [file, text] of [
            [SERIALIZED, out],
            [SERIALIZED_KEY, key],
        ]) {
            const tmp = `${file}.tmp-${process.pid}`;
            fs.writeFileSync(tmp, text);
            fs.renameSync(tmp, file);
        }
        return true;
    } catch (e) {
        process.stderr.write(`warning: cannot hash the provider code at build time (runs will serialize the providers, slower): ${e.message}\n`);
        return false;
    }
}

/** Brings bin/ in line with the sources. Returns the number of files compiled or removed. */
function build() {
    const want = fingerprint();
    const first = plan(readManifest(), want);
    if (first.compile.length + first.remove.length === 0 && serializedCurrent()) return 0;
    return withLock(() => {
        const have = readManifest(); // another build may have just finished
        const { compile, remove } = plan(have, want);
        if (compile.length === 0 && remove.length === 0) {
            if (!serializedCurrent()) serializeProviders();
            return 0;
        }
        const ts = require(require.resolve("typescript", { paths: [ROOT] }));
        const options = compilerOptions(ts);
        for (const rel of remove) fs.rmSync(outFile(rel), { force: true });
        for (const rel of compile) {
            const src = fs.readFileSync(path.join(ROOT, rel), "utf8");
            const r = ts.transpileModule(src, { compilerOptions: options, fileName: path.join(ROOT, rel), reportDiagnostics: true });
            const errors = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
            if (errors.length > 0) throw new Error(`${rel}: ${ts.flattenDiagnosticMessageText(errors[0].messageText, "\n")}`);
            const file = outFile(rel);
            fs.mkdirSync(path.dirname(file), { recursive: true });
            const tmp = `${file}.tmp-${process.pid}`;
            fs.writeFileSync(tmp, r.outputText);
            fs.renameSync(tmp, file);
        }
        // Entries are named by content, so old ones are only dead weight: start over with each build.
        fs.rmSync(COMPILE_CACHE, { recursive: true, force: true });
        // The manifest goes last: a build killed half way is seen as stale next time.
        const tmp = `${MANIFEST}.tmp-${process.pid}`;
        fs.writeFileSync(tmp, JSON.stringify(want, null, 1));
        fs.renameSync(tmp, MANIFEST);
        serializeProviders();
        return compile.length + remove.length;
    });
}

function isFresh() {
    const p = plan(readManifest(), fingerprint());
    return p.compile.length === 0 && p.remove.length === 0;
}

module.exports = { build, isFresh, plan, fingerprint, serializedKey, providerCode, readManifest, ROOT, OUT, SERIALIZED, COMPILE_CACHE };

if (require.main === module) {
    if (process.argv.includes("--check")) {
        process.exit(isFresh() ? 0 : 1);
    }
    const t = Date.now();
    const n = build();
    if (n > 0) process.stderr.write(`built ${n} file(s) into bin/ in ${Date.now() - t} ms\n`);
}
