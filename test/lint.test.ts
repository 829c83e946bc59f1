// The guardrails really guard: the lint the test command runs fails on an import
// cycle and on each layer boundary of components/.

import assert from "node:assert/strict";
import * as path from "path";
import { ESLint } from "eslint";

const ROOT = path.resolve(__dirname, "..");

async function errors(code: string, file: string): Promise<string[]> {
    const eslint = new ESLint({ cwd: ROOT });
    const [r] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
    return r.messages.filter((m) => m.severity === 2).map((m) => `${m.ruleId}: ${m.message}`);
}

describe("lint guardrails", function () {
    this.timeout(60_000);

    it("fails on an import cycle", async () => {
        const eslint = new ESLint({ cwd: ROOT, ignore: false });
        const results = await eslint.lintFiles([path.join(ROOT, "test/fixtures/lint-cycle/a.ts")]);
        assert.ok(
            results[0].messages.some((m) => m.ruleId === "import-x/no-cycle"),
            JSON.stringify(results[0].messages),
        );
    });

    const cases: [string, string, RegExp][] = [
        ["components/model/x.ts", 'import * as fs from "fs";\nexport const x = fs;\n', /model is pure/],
        ["components/model/x.ts", 'import * as pulumi from "@pulumi/pulumi";\nexport const x = pulumi;\n', /model is pure/],
        ["components/model/x.ts", 'import { run } from "../io/exec";\nexport const x = run;\n', /model is pure/],
        ["components/io/x.ts", 'import { judge } from "../release/health";\nexport const x = judge;\n', /may import only components\/model/],
        ["components/release/x.ts", 'import { PROVIDERS } from "../providers";\nexport const x = PROVIDERS;\n', /imports only model and io/],
        ["components/providers/x.ts", 'import { switchInputs } from "../plan";\nexport const x = switchInputs;\n', /import only release, model and io/],
        ["components/app2.ts", 'import { Engine } from "../runner/engine";\nexport const x = Engine;\n', /never imports the runner/],
        ["runner/x.ts", 'import { loadConfig } from "../components/model/config";\nexport const x = loadConfig;\n', /only the process seam/],
        ["bench/x.ts", 'import { quietProgress } from "../test/helpers/quiet";\nexport const x = quietProgress;\n', /never test\/helpers/],
    ];
    for (const [file, code, why] of cases) {
        it(`refuses in ${file}: ${code.split("\n")[0]}`, async () => {
            const found = await errors(code, file);
            assert.ok(
                found.some((e) => e.startsWith("no-restricted-imports") && why.test(e)),
                found.join("\n") || "no errors",
            );
        });
    }

    it("lets the runner use the process seam", async () => {
        assert.deepEqual(await errors('import { run } from "../components/io/exec";\nexport const x = run;\n', "runner/x.ts"), []);
    });
});
