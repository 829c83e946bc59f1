// The engine's decisions (runner/plan.ts, urn.ts, options.ts): pure, each case from
// pkg/resource/deploy/step_generator.go or the SDK's RegisterResourceRequest.

import assert from "node:assert/strict";
import type { DiffResult } from "../../runner/host";
import { readOptions } from "../../runner/options";
import { annotateSecrets, applyIgnoreChanges, checkFailureMessages, decide, parsePath, pathContains, secretOutputs } from "../../runner/plan";
import { SECRET_SIG, SIG_KEY } from "../../runner/secrets";
import { aliasUrns, makeUrn, migrateUrns } from "../../runner/urn";

const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });
const diff = (o: Partial<DiffResult>): DiffResult => ({ changes: "some", replaces: [], deleteBeforeReplace: false, changedKeys: [], ...o });

describe("runner/plan decide (continueStepsFromDiff)", () => {
    const base = { oldInputs: { a: 1 }, newInputs: { a: 2 }, hasInitErrors: false };

    it("DIFF_NONE is no change even with replaces", () => {
        assert.deepEqual(decide({ ...base, diff: diff({ changes: "none", replaces: ["a"] }) }), { op: "same" });
    });

    it("DIFF_NONE with init errors is an update (a retry)", () => {
        assert.deepEqual(decide({ ...base, hasInitErrors: true, diff: diff({ changes: "none" }) }), { op: "update" });
    });

    it("DIFF_UNKNOWN compares old and new inputs, __provider included", () => {
        assert.deepEqual(decide({ ...base, diff: diff({ changes: "unknown" }) }), { op: "update" });
        assert.deepEqual(
            decide({ oldInputs: { a: 1, __provider: "x" }, newInputs: { a: 1, __provider: "x" }, hasInitErrors: false, diff: diff({ changes: "unknown" }) }),
            { op: "same" },
        );
        assert.deepEqual(decide({ oldInputs: { __provider: "x" }, newInputs: { __provider: "y" }, hasInitErrors: false, diff: diff({ changes: "unknown" }) }), {
            op: "update",
        });
    });

    it("the deleteBeforeReplace option overrides the provider's answer, both ways; unset, the provider decides", () => {
        const d = (dbr: boolean) => diff({ replaces: ["a"], deleteBeforeReplace: dbr });
        assert.deepEqual(decide({ ...base, diff: d(true), deleteBeforeReplaceOption: false }), { op: "replace", deleteFirst: false, keys: ["a"] });
        assert.deepEqual(decide({ ...base, diff: d(false), deleteBeforeReplaceOption: true }), { op: "replace", deleteFirst: true, keys: ["a"] });
        assert.deepEqual(decide({ ...base, diff: d(true) }), { op: "replace", deleteFirst: true, keys: ["a"] });
    });

    it("replaceOnChanges acts on the keys the provider reports changed (none for the dynamic host)", () => {
        assert.deepEqual(decide({ ...base, diff: diff({ changedKeys: [] }), replaceOnChanges: ["a"] }), { op: "update" });
        assert.deepEqual(decide({ ...base, diff: diff({ changedKeys: ["a"] }), replaceOnChanges: ["a"] }), { op: "replace", deleteFirst: false, keys: ["a"] });
        assert.deepEqual(decide({ ...base, diff: diff({ changedKeys: ["a"] }), replaceOnChanges: ["triggers[*]"] }), { op: "update" });
        assert.deepEqual(decide({ ...base, hasInitErrors: true, diff: diff({ changes: "none" }), replaceOnChanges: ["*"] }), {
            op: "replace",
            deleteFirst: false,
            keys: ["#initerror"],
        });
    });
});

describe("runner/plan helpers", () => {
    it("checkFailureMessages: one per failure, in the engine's words, secrets masked", () => {
        assert.deepEqual(
            checkFailureMessages(
                "t:m:R",
                "r",
                [
                    { property: "a", reason: "bad" },
                    { property: "", reason: "all wrong" },
                    { property: "s", reason: "no" },
                ],
                { a: 1, s: "pw" },
                new Set(["s"]),
            ),
            [
                "t:m:R resource 'r': property a value {1} has a problem: bad",
                "t:m:R resource 'r' has a problem: all wrong",
                "t:m:R resource 'r': property s value {[secret]} has a problem: no",
            ],
        );
    });

    it("parsePath and pathContains (PropertyPath.Contains, * a wildcard)", () => {
        assert.deepEqual(parsePath('a.b[0]["c.d"][*]'), ["a", "b", 0, "c.d", "*"]);
        assert.equal(pathContains(parsePath("a"), parsePath("a.b")), true);
        assert.equal(pathContains(parsePath("a.*.c"), parsePath("a.x.c.d")), true);
        assert.equal(pathContains(parsePath("a.b"), parsePath("a")), false);
        assert.throws(() => parsePath("a..b"), /cannot parse the property path/);
    });

    it("applyIgnoreChanges resets ignored paths to their old values, nested too, and reports what it cannot", () => {
        const r = applyIgnoreChanges({ a: 2, o: { x: 2, y: 2 }, l: [1, 2, 3], n: "new" }, { a: 1, o: { x: 1, y: 1 }, l: [1, 9] }, [
            "a",
            "o.x",
            "l[1]",
            "n",
            "l[2]",
        ]);
        assert.deepEqual(r.inputs, { a: 1, o: { x: 1, y: 2 }, l: [1, 9, 3] });
        assert.deepEqual(r.invalid, ["l[2]"]);
    });

    it("annotateSecrets: an output is secret when its input of the same key held one, nested objects by key", () => {
        const outs = annotateSecrets({ token: "t", o: { pw: "p", plain: 1 }, other: 2 }, { token: secret("t"), o: { pw: secret("p") } });
        assert.deepEqual(outs, { token: secret("t"), o: { pw: secret("p"), plain: 1 }, other: 2 });
    });

    it("secretOutputs: additionalSecretOutputs and same-named secret inputs", () => {
        assert.deepEqual(secretOutputs({ stdout: "x", a: 1, b: 2 }, { a: secret(1) }, ["stdout"]), { stdout: secret("x"), a: secret(1), b: 2 });
    });
});

describe("runner/urn", () => {
    it("makeUrn: the parent's whole qualified type, the root stack left out", () => {
        const stackUrn = makeUrn("dev", "p", undefined, "pulumi:pulumi:Stack", "p-dev");
        const app = makeUrn("dev", "p", stackUrn, "bluegreen:index:App", "dev");
        const cs = makeUrn("dev", "p", app, "bluegreen:index:ColorStack", "blue");
        assert.equal(app, "urn:pulumi:dev::p::bluegreen:index:App::dev");
        assert.equal(
            makeUrn("dev", "p", cs, "pulumi-nodejs:dynamic:Resource", "backend-blue"),
            "urn:pulumi:dev::p::bluegreen:index:App$bluegreen:index:ColorStack$pulumi-nodejs:dynamic:Resource::backend-blue",
        );
    });

    it("migrateUrns rewrites MockMonitor's URNs and every reference, and leaves engine URNs alone", () => {
        const v1 = [
            { urn: "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev", type: "pulumi:pulumi:Stack", name: "p-dev", dependencies: [] },
            {
                urn: "urn:pulumi:dev::p::pulumi:pulumi:Stack$bluegreen:index:App::dev",
                type: "bluegreen:index:App",
                name: "dev",
                parent: "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev",
                dependencies: [],
            },
            {
                urn: "urn:pulumi:dev::p::bluegreen:index:App$bluegreen:index:ColorStack::blue",
                type: "bluegreen:index:ColorStack",
                name: "blue",
                parent: "urn:pulumi:dev::p::pulumi:pulumi:Stack$bluegreen:index:App::dev",
                dependencies: [],
            },
            {
                urn: "urn:pulumi:dev::p::bluegreen:index:ColorStack$pulumi-nodejs:dynamic:Resource::web-blue",
                type: "pulumi-nodejs:dynamic:Resource",
                name: "web-blue",
                parent: "urn:pulumi:dev::p::bluegreen:index:App$bluegreen:index:ColorStack::blue",
                dependencies: ["urn:pulumi:dev::p::pulumi:pulumi:Stack$bluegreen:index:App::dev"],
            },
        ];
        const v2 = migrateUrns(v1, "dev", "p");
        assert.deepEqual(
            v2.map((r) => r.urn),
            [
                "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev",
                "urn:pulumi:dev::p::bluegreen:index:App::dev",
                "urn:pulumi:dev::p::bluegreen:index:App$bluegreen:index:ColorStack::blue",
                "urn:pulumi:dev::p::bluegreen:index:App$bluegreen:index:ColorStack$pulumi-nodejs:dynamic:Resource::web-blue",
            ],
        );
        assert.equal(v2[3].parent, v2[2].urn);
        assert.deepEqual(v2[3].dependencies, [v2[1].urn]);
        assert.deepEqual(migrateUrns(v2, "dev", "p"), v2);
    });

    it("aliasUrns: a name alias keeps the parent; a renamed parent's alias carries over to children", () => {
        const ctx = { stack: "dev", project: "p", aliased: new Map<string, string>() };
        const parent = "urn:pulumi:dev::p::g:index:G::new";
        assert.deepEqual(aliasUrns("c", "t:m:R", parent, [{ name: "old-c" }], ctx), ["urn:pulumi:dev::p::g:index:G$t:m:R::old-c"]);
        ctx.aliased.set(parent, "urn:pulumi:dev::p::g:index:G::old");
        assert.deepEqual(aliasUrns("new-web", "t:m:R", parent, [], ctx), ["urn:pulumi:dev::p::g:index:G$t:m:R::old-web"]);
        assert.deepEqual(aliasUrns("x", "t:m:R", parent, [{ urn: "urn:pulumi:dev::p::t:m:R::x" }], { ...ctx, aliased: new Map() }), [
            "urn:pulumi:dev::p::t:m:R::x",
        ]);
    });
});

describe("runner/options readOptions", () => {
    const req = (over: Record<string, unknown> = {}) => {
        const v: Record<string, unknown> = {
            Name: "r",
            Custom: true,
            Protect: false,
            Retainondelete: false,
            IgnorechangesList: [],
            Deletebeforereplace: false,
            Deletebeforereplacedefined: false,
            AdditionalsecretoutputsList: [],
            AliasesList: [],
            AliasurnsList: [],
            ReplaceonchangesList: [],
            Importid: "",
            Provider: "",
            Deletedwith: "",
            ReplaceWithList: [],
            HidediffsList: [],
            TransformsList: [],
            Remote: false,
            Customtimeouts: undefined,
            ...over,
        };
        return new Proxy({}, { get: (_t, k: string) => (k.startsWith("get") ? () => v[k.slice(3)] : k.startsWith("has") ? () => false : undefined) }) as any;
    };

    it("reads what the runner implements; deleteBeforeReplace only when defined", () => {
        const o = readOptions(
            req({
                Protect: true,
                IgnorechangesList: ["a"],
                Deletebeforereplace: false,
                Deletebeforereplacedefined: true,
                Customtimeouts: { getCreate: () => "1h30m", getUpdate: () => "", getDelete: () => "90s" },
            }),
            "t",
        );
        assert.equal(o.protect, true);
        assert.deepEqual(o.ignoreChanges, ["a"]);
        assert.equal(o.deleteBeforeReplace, false);
        assert.deepEqual(o.timeouts, { create: 5400, update: 0, delete: 90 });
        assert.equal(o.refusal, undefined);
        assert.equal(readOptions(req(), "t").deleteBeforeReplace, undefined);
    });

    it("refuses what it does not emulate, naming the option and what to do", () => {
        for (const [over, what] of [
            [{ Importid: "i-1" }, "import"],
            [{ Provider: "urn:...::default_1" }, "an explicit provider"],
            [{ Deletedwith: "urn:x" }, "deletedWith"],
            [{ ReplaceWithList: ["urn:x"] }, "replaceWith"],
            [{ HidediffsList: ["a"] }, "hideDiffs"],
            [{ TransformsList: [{}] }, "transforms"],
        ] as const) {
            assert.match(readOptions(req(over), "t:m:R").refusal ?? "", new RegExp(`^t:m:R r: the offline runner does not support ${what}`));
        }
    });
});
