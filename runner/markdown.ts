// A plan or an update as Markdown, for a pull-request comment. Pure.

import { formatChange } from "./diff";
import type { RunResult, StepRecord } from "./engine";

const VERB: Record<string, string> = { create: "create", update: "update", replace: "replace", delete: "delete", same: "same", refresh: "refresh" };

/** `| op | resource | ... |` cells must not break the table. */
function cell(s: string): string {
    return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function counts(steps: readonly StepRecord[]): Map<string, number> {
    const m = new Map<string, number>();
    for (const s of steps) {
        const key = s.status === "failed" ? "failed" : s.status === "skipped" ? "skipped" : s.op === "same" ? "unchanged" : VERB[s.op];
        m.set(key, (m.get(key) ?? 0) + 1);
    }
    return m;
}

export function renderMarkdown(command: "preview" | "up", stack: string, result: RunResult): string {
    const c = counts(result.steps);
    const order = ["create", "update", "replace", "delete", "unchanged", "failed", "skipped"];
    const summary = order
        .filter((k) => c.get(k))
        .map(
            (k) =>
                `${c.get(k)} ${k === "unchanged" || k === "failed" || k === "skipped" ? k : command === "preview" ? `to ${k}` : k === "create" ? "created" : `${k}d`}`,
        );
    const lines = [
        `### ${command === "preview" ? "Preview" : "Update"} of stack \`${stack}\`${result.ok ? "" : result.canceled ? " (canceled)" : " (failed)"}`,
        "",
        `**${summary.join(", ") || "no changes"}**`,
        "",
    ];
    const changed = result.steps.filter((s) => s.op !== "same");
    if (changed.length > 0) {
        lines.push("| | resource | type | change |", "|---|---|---|---|");
        for (const s of changed) {
            const what =
                s.status === "failed"
                    ? `failed: ${s.error ?? ""}`
                    : s.status === "skipped"
                      ? `skipped: ${s.reason ?? ""}`
                      : s.op === "replace"
                        ? `replace${s.deleteFirst ? " (delete first)" : ""} on ${(s.replaceKeys ?? []).join(", ")}`
                        : s.op;
            lines.push(
                `| ${s.status === "failed" ? "✗" : s.status === "skipped" ? "·" : ({ create: "+", update: "~", replace: "+-", delete: "-", refresh: "~" }[s.op as string] ?? "")} | \`${cell(s.name)}\` | \`${cell(s.type)}\` | ${cell(what.length > 300 ? what.slice(0, 297) + "..." : what)} |`,
            );
        }
        lines.push("");
        for (const s of changed.filter((x) => (x.diff ?? []).length > 0)) {
            lines.push(`<details><summary><code>${s.name}</code>: ${s.op}</summary>`, "", "```diff");
            for (const d of s.diff!) lines.push(formatChange(d));
            lines.push("```", "", "</details>", "");
        }
    }
    if (result.errors.length > 0) {
        lines.push("**Errors**", "");
        for (const e of result.errors) lines.push(`- ${cell(e)}`);
        lines.push("");
    }
    return lines.join("\n");
}
