// The serialized provider: a run of the build takes each provider's text from the file the
// build wrote, and that text must be exactly what the SDK would serialize at run time.

import assert from "node:assert/strict";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pick } from "../../../components/providers/serialized";

const ROOT = path.resolve(__dirname, "..", "..", "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require(path.join(ROOT, "scripts", "build.js")) as { build(): number; serializedKey(): string; SERIALIZED: string; OUT: string };

describe("the serialized provider", function () {
    this.timeout(120_000);

    it("is taken only from a file of this very build, and only for a known provider", () => {
        const file = { key: "k1", texts: { switch: "text" } };
        assert.equal(pick(file, "k1", "switch"), "text");
        assert.equal(pick(file, "k2", "switch"), undefined, "another build's file");
        assert.equal(pick(file, "k1", "haproxy"), undefined, "a provider the file lacks");
        assert.equal(pick(file, "k1", undefined), undefined, "a provider outside the registry");
        assert.equal(pick(undefined, "k1", "switch"), undefined, "no file");
    });

    it("the build writes every provider's text under its key, the same text the SDK serializes from that build", () => {
        build.build();
        const file = JSON.parse(fs.readFileSync(build.SERIALIZED, "utf8")) as { key: string; texts: Record<string, string> };
        assert.equal(file.key, build.serializedKey());
        // In a plain Node process, as the program runs: under mocha, `run` is a global, and the
        // serializer leaves globals out of the text.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bg-serialized-"));
        const script = path.join(dir, "serialize.js");
        fs.writeFileSync(
            script,
            [
                `const pulumi = require(${JSON.stringify(require.resolve("@pulumi/pulumi"))});`,
                `const { PROVIDERS } = require(${JSON.stringify(path.join(build.OUT, "components", "providers", "index.js"))});`,
                "(async () => {",
                "    const texts = {};",
                "    for (const [name, provider] of Object.entries(PROVIDERS)) texts[name] = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;",
                "    process.stdout.write(JSON.stringify(texts));",
                "})();",
            ].join("\n"),
        );
        const sdk = JSON.parse(execFileSync(process.execPath, [script], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" })) as Record<
            string,
            string
        >;
        fs.rmSync(dir, { recursive: true, force: true });
        assert.deepEqual(Object.keys(file.texts).sort(), Object.keys(sdk).sort());
        for (const name of Object.keys(sdk)) {
            assert.equal(file.texts[name], sdk[name], `${name}: the build's text differs from the SDK's`);
            // Built-ins are required, never captured as globals (as `node -e` would make them).
            assert.doesNotMatch(file.texts[name], /global\.(fs|path|child_process|os|crypto)\b/, name);
        }
    });

    it("a build whose key changed serializes again", () => {
        const keyFile = build.SERIALIZED.replace(/\.json$/, ".key");
        fs.writeFileSync(keyFile, "stale");
        build.build();
        assert.equal(fs.readFileSync(keyFile, "utf8"), build.serializedKey());
    });
});
