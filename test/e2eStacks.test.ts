// The e2e files run three at a time (scripts/test.sh): each TestStack needs its own name
// (its stack, container prefix and state dir) and its own block of ports. Helpers that run
// one file alone never see a clash, so it is checked here, from the source.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";

/** A TestStack's ports: the frontend at its base, its components' just above (the closest two stacks of today are 40 apart). */
const PORTS_PER_STACK = 40;

const E2E = path.join(__dirname, "e2e");

function stacks(): { file: string; name: string; basePort: number }[] {
    return fs
        .readdirSync(E2E)
        .filter((f) => f.endsWith(".test.ts"))
        .flatMap((file) =>
            [...fs.readFileSync(path.join(E2E, file), "utf8").matchAll(/new TestStack\(\{ name: "([^"]+)", basePort: (\d+)/g)].map((m) => ({
                file,
                name: m[1],
                basePort: Number(m[2]),
            })),
        );
}

describe("e2e stacks", () => {
    it("finds the stacks of the e2e files", () => {
        assert.ok(stacks().length >= 30, `${stacks().length}`);
    });

    it("every TestStack has its own name", () => {
        const seen = new Map<string, string>();
        for (const s of stacks()) {
            assert.ok(!seen.has(s.name), `${s.file} and ${seen.get(s.name)} both name a TestStack "${s.name}"`);
            seen.set(s.name, s.file);
        }
    });

    it(`the TestStacks of two files are at least ${PORTS_PER_STACK} ports apart (one file's stacks may share its block)`, () => {
        const all = stacks();
        for (const a of all)
            for (const b of all)
                if (a.file !== b.file && a.basePort <= b.basePort)
                    assert.ok(
                        b.basePort - a.basePort >= PORTS_PER_STACK,
                        `${a.file} (${a.name}, ${a.basePort}) and ${b.file} (${b.name}, ${b.basePort}) overlap`,
                    );
    });
});
