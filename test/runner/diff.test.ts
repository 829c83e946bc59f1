import assert from "node:assert/strict";
import { describeDiff, diffKeys, propertyChanges } from "../../runner/diff";
import { SECRET_SIG, SIG_KEY } from "../../runner/secrets";

const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

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
            const text = describeDiff(
                { token: "old-t0ken", gone: "g0ne-pw" },
                { token: "new-t0ken", added: "n3w-pw" },
                ["token"],
                "",
                new Set(["token", "gone", "added"]),
            );
            assert.equal(text, ["+ added: [secret]", "- gone: [secret]", "~ token: [secret] => [secret] [replace]"].join("\n"));
            for (const v of ["old-t0ken", "new-t0ken", "g0ne-pw", "n3w-pw"]) assert.ok(!text.includes(v));
        });

        it("shows a __provider change as (provider code changed), never the code", () => {
            const text = describeDiff({ __provider: "exports.handler = old" }, { __provider: "exports.handler = new" }, ["__provider"], "  ");
            assert.equal(text, "  ~ __provider: (provider code changed) [replace]");
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

    describe("by property path, like pulumi preview --diff", () => {
        it("shows a switch's nested change as one line per changed leaf", () => {
            const olds = {
                active: "blue",
                components: [
                    { name: "backend", container: "dev-backend-blue", ports: { blue: 1, green: 2 } },
                    { name: "web", container: "dev-web-blue" },
                ],
            };
            const news = {
                active: "green",
                components: [
                    { name: "backend", container: "dev-backend-green", ports: { blue: 1, green: 2 } },
                    { name: "web", container: "dev-web-green" },
                ],
            };
            assert.equal(
                describeDiff(olds, news, [], "  "),
                [
                    '  ~ active: "blue" => "green"',
                    '  ~ components[0].container: "dev-backend-blue" => "dev-backend-green"',
                    '  ~ components[1].container: "dev-web-blue" => "dev-web-green"',
                ].join("\n"),
            );
        });

        it("lists added and removed elements and keys, quoting odd keys", () => {
            const text = describeDiff({ l: [1, 2, 3], o: { a: 1, "x.y": 1 } }, { l: [1, 5], o: { b: 2, "x.y": 2 } });
            assert.equal(text, ["~ l[1]: 2 => 5", "- l[2]: 3", "- o.a: 1", "+ o.b: 2", '~ o["x.y"]: 1 => 2'].join("\n"));
        });

        it("marks every path under a replacing key", () => {
            assert.deepEqual(
                propertyChanges({ spec: { release: "a", port: 1 } }, { spec: { release: "b", port: 1 } }, ["spec"]).map((c) => [c.path, c.replace]),
                [["spec.release", true]],
            );
        });

        it("never prints a secret's value, nested or not, or by key", () => {
            const olds = { token: "plain-old-token", nested: { pw: secret("0ld-pw"), list: [secret("l1st-old")] }, whole: secret({ a: "wh0le-old" }) };
            const news = { token: "plain-new-token", nested: { pw: secret("n3w-pw"), list: [secret("l1st-new")] }, whole: secret({ a: "wh0le-new" }) };
            const text = describeDiff(olds, news, [], "", new Set(["token"]));
            assert.equal(
                text,
                [
                    "~ nested.list[0]: [secret] => [secret]",
                    "~ nested.pw: [secret] => [secret]",
                    "~ token: [secret] => [secret]",
                    "~ whole: [secret] => [secret]",
                ].join("\n"),
            );
            for (const v of ["plain-old-token", "0ld-pw", "n3w-pw", "l1st-old", "l1st-new", "wh0le-old", "wh0le-new"]) assert.ok(!text.includes(v), v);
            // A value that turns secret (or stops being one) is masked on both sides.
            assert.equal(describeDiff({ k: "was-plain" }, { k: secret("now-secret") }), "~ k: [secret] => [secret]");
        });
    });
});
