import assert from "node:assert/strict";
import { describeDiff, diffKeys } from "../../runner/diff";

describe("runner/diff", () => {
    describe("diffKeys", () => {
        it("lists added, removed and changed top-level keys, sorted", () => {
            assert.deepEqual(diffKeys({ z: 1, same: "s", gone: true, obj: { a: 1 } }, { z: 2, same: "s", added: 0, obj: { a: 1 } }), ["added", "gone", "z"]);
        });

        it("compares structured values by JSON", () => {
            assert.deepEqual(diffKeys({ o: { a: [1, 2] } }, { o: { a: [1, 2] } }), []);
            assert.deepEqual(diffKeys({ o: { a: [1, 2] } }, { o: { a: [2, 1] } }), ["o"]);
            assert.deepEqual(diffKeys({ n: 1 }, { n: "1" }), ["n"]);
        });

        it("treats a missing side as empty", () => {
            assert.deepEqual(diffKeys(undefined as never, { a: 1 }), ["a"]);
            assert.deepEqual(diffKeys({ a: 1 }, null as never), ["a"]);
            assert.deepEqual(diffKeys({}, {}), []);
        });
    });

    describe("describeDiff", () => {
        it("writes ~ for changes, + for additions and - for removals, one line each", () => {
            const text = describeDiff({ release: "aaa1111", gone: 1, same: true }, { release: "bbb2222", added: { x: [1] }, same: true });
            assert.equal(text, ['+ added: {"x":[1]}', "- gone: 1", '~ release: "aaa1111" => "bbb2222"'].join("\n"));
        });

        it("marks replacing keys and indents every line", () => {
            const text = describeDiff({ release: "a", port: 1 }, { release: "b", port: 2, name: "n" }, ["release", "name"], "    ");
            assert.equal(text, ['    + name: "n" [replace]', "    ~ port: 1 => 2", '    ~ release: "a" => "b" [replace]'].join("\n"));
        });

        it("never shows the values of secret keys", () => {
            const text = describeDiff({ token: "old-t0ken", gone: "g0ne-pw" }, { token: "new-t0ken", added: "n3w-pw" }, ["token"], "", new Set(["token", "gone", "added"]));
            assert.equal(text, ["+ added: [secret]", "- gone: [secret]", "~ token: [secret] => [secret] [replace]"].join("\n"));
            for (const v of ["old-t0ken", "new-t0ken", "g0ne-pw", "n3w-pw"]) assert.ok(!text.includes(v));
        });

        it("shows a __provider change as (provider code changed), never the code", () => {
            const text = describeDiff({ __provider: "exports.handler = old" }, { __provider: "exports.handler = new" }, ["__provider"], "  ");
            assert.equal(text, "  ~ __provider: (provider code changed)");
        });

        it("shortens long values to 120 characters", () => {
            const long = "x".repeat(300);
            const text = describeDiff({}, { k: long });
            assert.equal(text, `+ k: "${"x".repeat(116)}...`);
            assert.equal(text.length, "+ k: ".length + 120);
        });

        it("is empty when nothing changed, and shows undefined as such", () => {
            assert.equal(describeDiff({ a: 1 }, { a: 1 }), "");
            assert.equal(describeDiff({ a: 1 }, { a: undefined }), "~ a: 1 => undefined");
        });
    });
});
