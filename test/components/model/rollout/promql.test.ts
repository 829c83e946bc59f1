import assert from "node:assert/strict";
import {
    DEFAULT_QUERIES,
    lookbackSeconds,
    parseInstantAnswer,
    promDuration,
    redactUrl,
    renderQuery,
    renderSelector,
    sampleValue,
    templateProblems,
} from "../../../../components/model/rollout/promql";

const WHERE = { query: "up", url: "http://127.0.0.1:19790/api/v1/query" };
const vector = (...values: string[]) =>
    JSON.stringify({ status: "success", data: { resultType: "vector", result: values.map((v, i) => ({ metric: { i: String(i) }, value: [1, v] })) } });

describe("promql", () => {
    describe("templates", () => {
        it("the default queries are usable templates", () => {
            for (const [name, t] of Object.entries(DEFAULT_QUERIES)) assert.deepEqual(templateProblems(t), [], name);
        });

        it("a template without $selector would judge every target, and is refused", () => {
            assert.deepEqual(templateProblems("sum(rate(http_requests_total[5m]))"), [
                "expected $selector where the label matchers of the targets under judgement go, e.g. http_requests_total{$selector}",
            ]);
        });

        it("an unknown placeholder is a typo, and is named", () => {
            assert.deepEqual(templateProblems("sum(rate(x{$selector}[$windw])) + $foo + $foo"), [
                "unknown placeholder $windw, $foo; the placeholders are $selector and $window",
            ]);
            assert.deepEqual(templateProblems("  "), ["expected a PromQL query"]);
        });

        it("a template that is not PromQL is refused up front, naming where it breaks (lezer-promql, Prometheus's own grammar)", () => {
            assert.deepEqual(templateProblems('sum(increase(http_requests_total{$selector,code=~"5.."}[$window])) / '), ["expected PromQL: it ends too soon"]);
            assert.deepEqual(templateProblems("sum(rate(x{$selector}[$window])))"), ["expected PromQL: it breaks at character 33: )"]);
            assert.deepEqual(templateProblems("up{$selector} == 1 or vector(0)"), []);
            // The placeholder problems come first; a typo'd placeholder is not also a syntax error.
            assert.deepEqual(templateProblems("x{$selector}[$windw]"), ["unknown placeholder $windw; the placeholders are $selector and $window"]);
        });

        it("renders the selector without braces, so a template can add matchers", () => {
            const q = renderQuery(DEFAULT_QUERIES.errorRatio, { selector: { component: "backend", color: "blue", node: "2" }, windowSeconds: 60 });
            assert.equal(
                q,
                '(sum(rate(http_requests_total{component="backend",color="blue",node="2",code=~"5.."}[60s])) or vector(0)) / ' +
                    'sum(rate(http_requests_total{component="backend",color="blue",node="2"}[60s]))',
            );
        });

        it("escapes label values as PromQL strings, and never interprets $& in them", () => {
            assert.equal(renderSelector({ a: 'x"y\\z', b: "$&$selector" }), 'a="x\\"y\\\\z",b="$&$selector"');
            assert.equal(renderQuery("f{$selector}", { selector: { a: "$window" }, windowSeconds: 5 }), 'f{a="$window"}');
        });

        it("refuses an empty selector and bad label names", () => {
            assert.throws(() => renderSelector({}), /at least one label/);
            assert.throws(() => renderSelector({ "bad-name": "x" }), /invalid Prometheus label name "bad-name"/);
        });

        it("durations are whole seconds", () => {
            assert.equal(promDuration(60), "60s");
            assert.throws(() => promDuration(0.5), /whole number of seconds/);
            assert.throws(() => promDuration(0), /whole number of seconds/);
        });

        it("the lookback is the probe interval, but at least four scrapes", () => {
            assert.equal(lookbackSeconds(30, 15), 60);
            assert.equal(lookbackSeconds(120, 15), 120);
            assert.equal(lookbackSeconds(1, 1), 4);
        });
    });

    describe("sampleValue", () => {
        it("reads Prometheus's spellings of numbers", () => {
            assert.equal(sampleValue("0.25"), 0.25);
            assert.equal(sampleValue("+Inf"), Infinity);
            assert.equal(sampleValue("-Inf"), -Infinity);
            assert.ok(Number.isNaN(sampleValue("NaN")));
            assert.equal(sampleValue(""), undefined);
            assert.equal(sampleValue("abc"), undefined);
            assert.equal(sampleValue(3), undefined);
        });
    });

    describe("parseInstantAnswer", () => {
        const cases: { name: string; status: number; body: string; want: unknown }[] = [
            { name: "one series", status: 200, body: vector("0.0243"), want: { kind: "number", value: 0.0243 } },
            { name: "+Inf (quantile in the +Inf bucket)", status: 200, body: vector("+Inf"), want: { kind: "number", value: Infinity } },
            { name: "NaN", status: 200, body: vector("NaN"), want: { kind: "nan" } },
            { name: "no series", status: 200, body: vector(), want: { kind: "empty" } },
            {
                name: "a scalar",
                status: 200,
                body: JSON.stringify({ status: "success", data: { resultType: "scalar", result: [1, "7"] } }),
                want: { kind: "number", value: 7 },
            },
        ];
        for (const c of cases) {
            it(c.name, () => assert.deepEqual(parseInstantAnswer(c.status, c.body, WHERE), c.want));
        }

        it("several series are an error that says to aggregate", () => {
            const r = parseInstantAnswer(200, vector("1", "2"), WHERE);
            assert.equal(r.kind, "error");
            assert.match((r as { message: string }).message, /^query up at http:\/\/127\.0\.0\.1:19790\/api\/v1\/query: 2 series .*aggregate it with sum/);
        });

        it("a Prometheus error names the query, the URL, the status and Prometheus's reason", () => {
            const body = JSON.stringify({ status: "error", errorType: "bad_data", error: 'invalid parameter "query": 1:4: parse error' });
            assert.deepEqual(parseInstantAnswer(400, body, WHERE), {
                kind: "error",
                status: 400,
                message:
                    'query up at http://127.0.0.1:19790/api/v1/query: Prometheus answered HTTP 400 (bad_data): invalid parameter "query": 1:4: parse error',
            });
        });

        it("a body that is not Prometheus JSON (a proxy's error page) is an error with an excerpt", () => {
            assert.deepEqual(parseInstantAnswer(502, "<html>\n  Bad Gateway\n</html>", WHERE), {
                kind: "error",
                status: 502,
                message: "query up at http://127.0.0.1:19790/api/v1/query: HTTP 502 with a body that is not Prometheus JSON: <html> Bad Gateway </html>",
            });
        });

        it("a range vector, or a sample that is not a number, is an error", () => {
            const matrix = JSON.stringify({ status: "success", data: { resultType: "matrix", result: [] } });
            assert.match((parseInstantAnswer(200, matrix, WHERE) as { message: string }).message, /a matrix result; an SLI query must be an instant vector/);
            assert.match((parseInstantAnswer(200, vector("x"), WHERE) as { message: string }).message, /a sample without a numeric value/);
        });

        it("never shows credentials or query strings of the URL", () => {
            const r = parseInstantAnswer(500, "oops", { query: "up", url: "https://user:s3cret@prom.example:9090/api/v1/query?token=abc" });
            assert.doesNotMatch((r as { message: string }).message, /s3cret|user|token|abc/);
            assert.match((r as { message: string }).message, /at https:\/\/prom\.example:9090\/api\/v1\/query:/);
            assert.equal(redactUrl("not a url"), "(an unparsable URL)");
        });
    });
});
