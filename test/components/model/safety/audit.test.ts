import assert from "node:assert/strict";
import { AuditEvent, auditLine, describeEvent, eventEnv, parseAudit, rollbackKind, servedHistory } from "../../../../components/model/safety/audit";

const E: AuditEvent = {
    time: "2026-12-03T10:00:00.000Z",
    performer: "ana",
    stack: "prod",
    operation: "switch",
    color: "green",
    release: "bbb2222",
    details: { from: "blue", ms: 120, note: "two\nlines" },
};

describe("audit (pure)", () => {
    it("one event is one line, and reads back; a cut line is skipped", () => {
        const line = auditLine(E);
        assert.equal(line.split("\n").length, 2, "a newline in a value stays escaped");
        assert.deepEqual(parseAudit(line + '{"cut', 10), [E]);
        assert.deepEqual(parseAudit(line + line + line, 2).length, 2);
    });

    it("gives a broadcast the event as BLUEGREEN_* variables", () => {
        assert.deepEqual(eventEnv(E), {
            BLUEGREEN_TIME: E.time,
            BLUEGREEN_PERFORMER: "ana",
            BLUEGREEN_STACK: "prod",
            BLUEGREEN_OPERATION: "switch",
            BLUEGREEN_DETAILS: JSON.stringify(E.details),
            BLUEGREEN_COLOR: "green",
            BLUEGREEN_RELEASE: "bbb2222",
            BLUEGREEN_FROM: "blue",
            BLUEGREEN_MS: "120",
            BLUEGREEN_NOTE: "two\nlines",
        });
        assert.equal(eventEnv({ ...E, details: { fromColor: "x", stack: "not this" } }).BLUEGREEN_FROM_COLOR, "x");
        assert.equal(eventEnv({ ...E, details: { stack: "not this" } }).BLUEGREEN_STACK, "prod", "a detail never overrides a field");
    });

    it("describes an event in one line", () => {
        assert.equal(describeEvent(E), "2026-12-03T10:00:00.000Z ana switch green bbb2222 (from=blue ms=120 note=two\nlines)");
    });

    it("a switch back to the color and release that served just before is a fast rollback; an older release deployed again is a full one", () => {
        const h = servedHistory("2026-12-01T00:00:00Z blue aaa1111\n2026-12-02T01:00:00Z green bbb2222\n");
        assert.deepEqual(h, [
            { color: "blue", release: "aaa1111" },
            { color: "green", release: "bbb2222" },
        ]);
        assert.equal(rollbackKind(h, "switch", { color: "blue", release: "aaa1111" }), "fast");
        assert.equal(rollbackKind(h, "switch", { color: "blue", release: "ccc3333" }), undefined);
        assert.equal(rollbackKind(h, "deploy", { color: "blue", release: "aaa1111" }), "full");
        assert.equal(rollbackKind(h, "deploy", { color: "blue", release: "ccc3333" }), undefined);
        assert.equal(rollbackKind(h, "deploy", { color: "blue", release: "bbb2222" }), undefined, "the serving release is no rollback");
        assert.equal(rollbackKind([], "switch", { color: "blue", release: "aaa1111" }), undefined);
    });

    it("a destroy (its `none -` line) ends a stack's life: what served before it is no rollback target of the next life", () => {
        const h = servedHistory("2026-12-01T00:00:00Z blue aaa1111\n2026-12-02T00:00:00Z none -\n2026-12-02T01:00:00Z green bbb2222\n");
        assert.deepEqual(h, [{ color: "green", release: "bbb2222" }]);
        // A progressive shift skips its analysis for a fast rollback: never for what a destroyed stack once served.
        assert.equal(rollbackKind(h, "switch", { color: "blue", release: "aaa1111" }), undefined);
        assert.equal(rollbackKind(h, "deploy", { color: "blue", release: "aaa1111" }), undefined);
    });
});
