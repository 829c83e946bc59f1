// runner/markdown.ts and the CLI's failure report: pure.

import assert from "node:assert/strict";
import { failureReport } from "../../runner/cli";
import { propertyChanges } from "../../runner/diff";
import type { RunResult } from "../../runner/engine";
import { renderMarkdown } from "../../runner/markdown";
import { SECRET_SIG, SIG_KEY } from "../../runner/secrets";

const T = "pulumi-nodejs:dynamic:Resource";

describe("runner/markdown and failureReport", () => {
    const diff = propertyChanges(
        { active: "blue", token: { [SIG_KEY]: SECRET_SIG, value: "s3cret-old" } },
        { active: "green", token: { [SIG_KEY]: SECRET_SIG, value: "s3cret-new" } },
    );
    const result: RunResult = {
        ok: true,
        canceled: false,
        errors: [],
        outputs: {},
        steps: [
            { op: "update", urn: "u1", name: "dev-switch", type: T, status: "planned", ok: true, changes: ["active", "token"], diff },
            { op: "replace", urn: "u2", name: "web-green", type: T, status: "planned", ok: true, replaceKeys: ["release"], deleteFirst: true, diff: [] },
            { op: "same", urn: "u3", name: "web-blue", type: T, status: "planned", ok: true },
        ],
    };

    it("renders a header with the stack and counts, a table, and each resource's changes; no secret", () => {
        const md = renderMarkdown("preview", "dev", result);
        assert.match(md, /^### Preview of stack `dev`\n\n\*\*1 to update, 1 to replace, 1 unchanged\*\*\n/);
        assert.match(md, /\| ~ \| `dev-switch` \| `pulumi-nodejs:dynamic:Resource` \| update \|/);
        assert.match(md, /\| \+- \| `web-green` \| .* \| replace \(delete first\) on release \|/);
        assert.match(md, /```diff\n~ active: "blue" => "green"\n~ token: \[secret\] => \[secret\]\n```/);
        assert.doesNotMatch(md, /s3cret/);
    });

    it("failureReport: skipped steps with reasons, then `error: up failed:` and each failure last", () => {
        const failed: RunResult = {
            ok: false,
            canceled: false,
            outputs: {},
            errors: ["backend-blue: replace failed: refusing to delete dev-backend-blue"],
            steps: [
                { op: "replace", urn: "u", name: "backend-blue", type: T, status: "failed", ok: false, error: "refusing" },
                {
                    op: "update",
                    urn: "s",
                    name: "dev-switch",
                    type: T,
                    status: "skipped",
                    ok: false,
                    reason: "depends on backend-blue, which did not complete",
                },
            ],
        };
        assert.equal(
            failureReport("up", failed),
            "Skipped (1):\n  - dev-switch: update (depends on backend-blue, which did not complete)\nerror: up failed:\n  backend-blue: replace failed: refusing to delete dev-backend-blue\n",
        );
    });
});
