// The provider text: a run of the build puts a few hundred bytes in each `__provider`, a
// require of the bluegreen-providers package, which the real dynamic-provider host resolves
// from the project and which loads this build's registry.

import assert from "node:assert/strict";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROVIDER_PACKAGE, pick, providerText } from "../../../components/providers/serialized";
import { PROVIDERS } from "../../../components/providers";
import { ProviderHost } from "../../../runner/host";

const ROOT = path.resolve(__dirname, "..", "..", "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require(path.join(ROOT, "scripts", "build.js")) as {
    build(): number;
    serializedKey(): string;
    providerCode(manifest: { files: Record<string, string> }): string;
    readManifest(): { files: Record<string, string> };
    SERIALIZED: string;
    OUT: string;
};

/** The bound on a provider text: the serialized closures it replaced were 20-150 KB. */
const MAX_TEXT_BYTES = 2048;
const URN = "urn:pulumi:dev::bluegreen::pulumi-nodejs:dynamic:Resource::thing";

describe("the provider text", function () {
    this.timeout(120_000);

    it("is made only from a file of this very build, and only for a known provider", () => {
        const file = { key: "k1", code: "c0de" };
        assert.equal(pick(file, "k1", "switch"), providerText("switch", "c0de"));
        assert.equal(pick(file, "k2", "switch"), undefined, "another build's file");
        assert.equal(pick(file, "k1", undefined), undefined, "a provider outside the registry");
        assert.equal(pick(undefined, "k1", "switch"), undefined, "no file");
        assert.equal(pick({ key: "k1", texts: {} } as never, "k1", "switch"), undefined, "a file of the old format");
    });

    it("names the provider and the code, and requires only the package", () => {
        const t = providerText("colorContainer", "0123abcd");
        assert.match(t, /require\("bluegreen-providers"\)\.provider\("colorContainer", "0123abcd"\)/);
        assert.deepEqual(
            [...t.matchAll(/require\(([^)]*)\)/g)].map((m) => m[1]),
            [JSON.stringify(PROVIDER_PACKAGE)],
        );
    });

    it(`every provider's text, as a run of the build makes it, stays under ${MAX_TEXT_BYTES} bytes`, () => {
        build.build();
        // In a plain Node process from the build, in the project, as `npm run local` runs the program.
        const script = [
            `const { PROVIDERS } = require(${JSON.stringify(path.join(build.OUT, "components", "providers", "index.js"))});`,
            `const { serializedProvider } = require(${JSON.stringify(path.join(build.OUT, "components", "providers", "serialized.js"))});`,
            "const out = {};",
            "for (const [name, p] of Object.entries(PROVIDERS)) { const t = serializedProvider(p); out[name] = typeof t === 'string' ? t : null; }",
            "process.stdout.write(JSON.stringify(out));",
        ].join("\n");
        const texts = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8" })) as Record<string, string | null>;
        assert.deepEqual(Object.keys(texts).sort(), Object.keys(PROVIDERS).sort());
        for (const [name, text] of Object.entries(texts)) {
            assert.equal(typeof text, "string", `${name}: the run serialized the closure instead of the short text`);
            const bytes = Buffer.byteLength(text!);
            assert.ok(bytes < MAX_TEXT_BYTES, `${name}: ${bytes} bytes`);
            const file = JSON.parse(fs.readFileSync(build.SERIALIZED, "utf8"));
            assert.equal(text, providerText(name, file.code));
        }
    });

    it("hashes the code the providers reach: a change there changes every text, a change elsewhere none", () => {
        build.build();
        const m = build.readManifest();
        const code = build.providerCode(m);
        assert.equal(JSON.parse(fs.readFileSync(build.SERIALIZED, "utf8")).code, code);
        const edit = (rel: string) => build.providerCode({ ...m, files: { ...m.files, [rel]: "0".repeat(40) } });
        for (const rel of ["components/providers/switch.ts", "components/io/exec.ts", "components/model/config.ts"]) {
            assert.ok(rel in m.files, rel);
            assert.notEqual(edit(rel), code, rel);
        }
        for (const rel of ["runner/cli.ts", "index.ts"]) {
            assert.ok(rel in m.files, rel);
            assert.equal(edit(rel), code, rel);
        }
    });

    it("loads this build's provider in Pulumi's dynamic-provider host, from a project below the package's node_modules", async () => {
        build.build();
        const file = JSON.parse(fs.readFileSync(build.SERIALIZED, "utf8"));
        const host = await ProviderHost.start({ project: "bluegreen", stack: "dev", cwd: path.join(ROOT, "test", "fixtures"), log: () => undefined });
        try {
            const r = await host.check(URN, {}, { __provider: providerText("colorContainer", file.code), name: "Bad Name", color: "red", release: "xyz" });
            assert.deepEqual(
                r.failures.map((f) => f.property),
                ["name", "color", "release"],
            );
            // An older text (another hash) loads today's code, as Pulumi expects of a new provider version.
            const old = await host.check(URN, {}, { __provider: providerText("colorContainer", "older"), name: "Bad Name", color: "red", release: "xyz" });
            assert.equal(old.failures.length, 3);
            await assert.rejects(host.check(URN, {}, { __provider: providerText("nope", file.code) }), /has no provider "nope".*run npm run build/);
        } finally {
            host.close();
        }
    });

    it("a build whose key changed writes its file again", () => {
        const keyFile = build.SERIALIZED.replace(/\.json$/, ".key");
        fs.writeFileSync(keyFile, "stale");
        build.build();
        assert.equal(fs.readFileSync(keyFile, "utf8"), build.serializedKey());
    });
});
