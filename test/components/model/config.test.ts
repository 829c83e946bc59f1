import assert from "node:assert/strict";
import { ConfigError, SECRET_KEYS, loadConfig, parseConfig, rawFromPulumiConfig } from "../../../components/model/config";
import { DEFAULT_QUERIES } from "../../../components/model/rollout/promql";
import { minimalRaw } from "../../helpers/stackConfig";

/** The problems parseConfig reports for `raw` (fails the test when it accepts it). */
function problems(raw: Record<string, unknown>, stack = "dev"): string[] {
    try {
        parseConfig(raw, stack);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
        return [...e.problems];
    }
    assert.fail("parseConfig accepted the config");
}

const with_ = (over: Record<string, unknown>) => ({ ...minimalRaw(), ...over });
const HAPROXY = { frontendPort: 18100, exporterPort: 18101 };

describe("config", () => {
    describe("parseConfig", () => {
        it("fills every default around the required keys", () => {
            const c = parseConfig(minimalRaw(), "dev");
            assert.deepEqual(c, {
                stack: "dev",
                app: "bluegreen",
                prefix: "dev-",
                active: "blue",
                colors: { blue: { release: "abc1234" } },
                components: [
                    {
                        name: "backend",
                        port: 8080,
                        hostPort: 18110,
                        nodes: 1,
                        route: "/api",
                        healthPath: "/health",
                        healthStatus: "200-299",
                        env: {},
                        secretEnv: [],
                    },
                    {
                        name: "stream",
                        port: 8080,
                        hostPort: 18120,
                        nodes: 1,
                        route: "/stream",
                        healthPath: "/health",
                        healthStatus: "200-299",
                        env: {},
                        secretEnv: [],
                    },
                    { name: "web", port: 8080, hostPort: 18130, nodes: 1, route: "/", healthPath: "/health", healthStatus: "200-299", env: {}, secretEnv: [] },
                ],
                incus: { image: "bluegreen-base", profiles: ["default"] },
                artifacts: { type: "dir", path: ".artifacts" },
                haproxy: {
                    placement: "host",
                    frontendPort: 18100,
                    exporterPort: 18101,
                    switchMethod: "runtime",
                    settleMs: 15000,
                    extra: { global: [], defaults: [], frontend: [] },
                },
                health: { attempts: 30, intervalMs: 1000, timeoutMs: 2000 },
                cleanup: {},
                migrations: { force: false, block: [] },
                stateful: [],
                hooks: {},
            });
        });

        it("sorts components by name and defaults their port and healthPath", () => {
            const c = parseConfig(
                with_({
                    components: {
                        zeta: { hostPort: 18200, route: "/z" },
                        alpha: { hostPort: 18210, route: "/", port: 3000, healthPath: "/ready" },
                    },
                }),
                "dev",
            );
            assert.deepEqual(c.components, [
                { name: "alpha", port: 3000, hostPort: 18210, nodes: 1, route: "/", healthPath: "/ready", healthStatus: "200-299", env: {}, secretEnv: [] },
                { name: "zeta", port: 8080, hostPort: 18200, nodes: 1, route: "/z", healthPath: "/health", healthStatus: "200-299", env: {}, secretEnv: [] },
            ]);
        });

        it("keeps only the colors that are present, both when both are", () => {
            const c = parseConfig(with_({ colors: { green: { release: "def5678" }, blue: { release: "abc1234" } } }), "dev");
            assert.deepEqual(c.colors, { blue: { release: "abc1234" }, green: { release: "def5678" } });
            const one = parseConfig(minimalRaw(), "dev");
            assert.equal("green" in one.colors, false);
        });

        it("lowercases an uppercase release", () => {
            const c = parseConfig(with_({ colors: { blue: { release: "ABCDEF1234" } } }), "dev");
            assert.equal(c.colors.blue?.release, "abcdef1234");
        });

        it("accepts releases of exactly 7 and 40 hex characters", () => {
            const forty = "0123456789abcdef0123456789abcdef01234567";
            const c = parseConfig(with_({ colors: { blue: { release: "abcdef0" }, green: { release: forty } } }), "dev");
            assert.equal(c.colors.blue?.release, "abcdef0");
            assert.equal(c.colors.green?.release, forty);
        });

        it("names the full key path of a bad release", () => {
            assert.deepEqual(problems(with_({ colors: { blue: { release: "abc1234" }, green: { release: "xyz" } } })), [
                "bluegreen:colors.green.release: expected 7-40 hex characters",
            ]);
        });

        it("refuses releases shorter than 7 or longer than 40 characters", () => {
            assert.deepEqual(problems(with_({ colors: { blue: { release: "abc123" } } })), ["bluegreen:colors.blue.release: expected 7-40 hex characters"]);
            assert.deepEqual(problems(with_({ colors: { blue: { release: "a".repeat(41) } } })), [
                "bluegreen:colors.blue.release: expected 7-40 hex characters",
            ]);
        });

        it("tells to quote a release that arrived as a number", () => {
            assert.deepEqual(problems(with_({ colors: { blue: { release: 1234567 } } })), [
                "bluegreen:colors.blue.release: expected 7-40 hex characters as a string (quote a SHA made only of digits)",
            ]);
        });

        it("names unknown nested keys with their parent's path", () => {
            assert.deepEqual(problems(with_({ haproxy: { ...HAPROXY, foo: 1, bar: 2 } })), [
                "bluegreen:haproxy.foo: unknown key (check the spelling against the README's config reference)",
                "bluegreen:haproxy.bar: unknown key (check the spelling against the README's config reference)",
            ]);
            assert.deepEqual(problems(with_({ components: { web: { hostPort: 18130, route: "/", port2: 1 } } })), [
                "bluegreen:components.web.port2: unknown key (check the spelling against the README's config reference)",
            ]);
            assert.deepEqual(problems(with_({ colors: { blue: { release: "abc1234", image: "x" } } })), [
                "bluegreen:colors.blue.image: unknown key (check the spelling against the README's config reference)",
            ]);
        });

        it("refuses an unknown top-level key", () => {
            const p = problems(with_({ colour: "blue" }));
            assert.equal(p.length, 1);
            assert.equal(p[0], "bluegreen:colour: unknown key (check the spelling against the README's config reference)");
        });

        it("refuses an active color that is absent from colors and says to switch first", () => {
            assert.deepEqual(problems(with_({ active: "green" })), [
                "bluegreen:colors.green: green is the active color and serves traffic, so it cannot be absent. " +
                    "Keep bluegreen:colors.green; to clean green up, first switch traffic with bluegreen:active: blue.",
            ]);
        });

        it("refuses an active value that is not a color, and missing required keys", () => {
            assert.deepEqual(problems(with_({ active: "red" })), ["bluegreen:active: expected blue or green"]);
            assert.deepEqual(problems({ active: "blue", colors: { blue: { release: "abc1234" } } }), [
                "bluegreen:haproxy: expected object, received undefined",
            ]);
            assert.deepEqual(problems({ active: "blue", haproxy: HAPROXY }), ["bluegreen:colors: expected object, received undefined"]);
        });

        it("refuses ports outside 1-65535 and non-integers", () => {
            assert.deepEqual(problems(with_({ haproxy: { frontendPort: 0, exporterPort: 18101.5 } })), [
                "bluegreen:haproxy.frontendPort: expected a port from 1 to 65535",
                "bluegreen:haproxy.exporterPort: expected an integer port",
            ]);
            assert.deepEqual(problems(with_({ components: { web: { hostPort: 70000, route: "/" } } })), [
                "bluegreen:components.web.hostPort: expected a port from 1 to 65535",
            ]);
        });

        it("refuses the frontend and exporter on one port", () => {
            assert.deepEqual(problems(with_({ haproxy: { frontendPort: 18100, exporterPort: 18100 } })), [
                "bluegreen:haproxy.exporterPort: port 18100 is already used by bluegreen:haproxy.frontendPort; every loopback port must be distinct",
            ]);
        });

        it("counts green's hostPort + 1 in port clashes", () => {
            // Default backend hostPort 18110: green takes 18111.
            assert.deepEqual(problems(with_({ haproxy: { frontendPort: 18111, exporterPort: 18101 } })), [
                "bluegreen:components.backend.hostPort + 1 (green): port 18111 is already used by bluegreen:haproxy.frontendPort; every loopback port must be distinct",
            ]);
            assert.deepEqual(
                problems(
                    with_({
                        components: { a: { hostPort: 18110, route: "/a" }, b: { hostPort: 18111, route: "/b" } },
                    }),
                ),
                [
                    "bluegreen:components.b.hostPort (blue): port 18111 is already used by bluegreen:components.a.hostPort + 1 (green); every loopback port must be distinct",
                ],
            );
        });

        it("accepts components on adjacent port pairs", () => {
            const c = parseConfig(with_({ components: { a: { hostPort: 18110, route: "/a" }, b: { hostPort: 18112, route: "/b" } } }), "dev");
            assert.deepEqual(
                c.components.map((x) => x.hostPort),
                [18110, 18112],
            );
        });

        it("refuses hostPort 65535, since green would need 65536", () => {
            assert.deepEqual(problems(with_({ components: { web: { hostPort: 65535, route: "/" } } })), [
                "bluegreen:components.web.hostPort: expected at most 65534 (green uses hostPort + 1)",
            ]);
        });

        it("refuses duplicate routes, treating a trailing slash as the same route", () => {
            assert.deepEqual(problems(with_({ components: { a: { hostPort: 18110, route: "/api" }, b: { hostPort: 18120, route: "/api/" } } })), [
                "bluegreen:components.b.route: /api/ is already routed to a",
            ]);
            assert.deepEqual(problems(with_({ components: { a: { hostPort: 18110, route: "/" }, b: { hostPort: 18120, route: "/" } } })), [
                "bluegreen:components.b.route: / is already routed to a",
            ]);
        });

        it("refuses a route that is not an absolute path, or has an empty segment", () => {
            for (const route of ["api", "//", "/a//b"]) {
                assert.deepEqual(
                    problems(with_({ components: { web: { hostPort: 18130, route } } })),
                    ["bluegreen:components.web.route: expected an absolute URL path of letters, digits and ._~/- without empty segments"],
                    route,
                );
            }
        });

        it("explains a component name it cannot accept", () => {
            assert.deepEqual(problems(with_({ components: { Web: { hostPort: 18130, route: "/" } } })), [
                "bluegreen:components.Web: invalid name: expected lowercase letters, digits and single inner hyphens, starting with a letter",
            ]);
        });

        it("refuses a container name longer than 63 characters, checking each color", () => {
            // "dev-" + 54 + "-blue" = 63 (fine), "-green" = 64 (too long).
            const name = "c" + "x".repeat(53);
            assert.deepEqual(problems(with_({ components: { [name]: { hostPort: 18110, route: "/" } } })), [
                `bluegreen:components.${name}: container name dev-${name}-green is longer than Incus's 63 characters; shorten the prefix or component name`,
            ]);
            const fits = "c" + "x".repeat(52);
            assert.equal(parseConfig(with_({ components: { [fits]: { hostPort: 18110, route: "/" } } }), "dev").components[0].name, fits);
        });

        it("derives the prefix from the stack name, or takes it as given", () => {
            assert.equal(parseConfig(minimalRaw(), "staging").prefix, "staging-");
            assert.equal(parseConfig(with_({ prefix: "acme-" }), "staging").prefix, "acme-");
            assert.equal(parseConfig(with_({ prefix: "" }), "staging").prefix, "");
        });

        it("refuses a stack name that cannot be a prefix, unless bluegreen:prefix is set", () => {
            assert.deepEqual(problems(minimalRaw(), "Dev"), ['bluegreen:prefix: stack name "Dev" cannot be a container name prefix; set bluegreen:prefix']);
            assert.deepEqual(problems(minimalRaw(), "my_stack"), [
                'bluegreen:prefix: stack name "my_stack" cannot be a container name prefix; set bluegreen:prefix',
            ]);
            assert.equal(parseConfig(with_({ prefix: "ok-" }), "my_stack").prefix, "ok-");
        });

        it("refuses a bad explicit prefix", () => {
            assert.deepEqual(problems(with_({ prefix: "Dev-" })), [
                "bluegreen:prefix: expected up to 30 lowercase letters, digits and hyphens, starting with a letter",
            ]);
        });

        it("refuses an extra HAProxy line holding a newline or '#', with its index", () => {
            assert.deepEqual(problems(with_({ haproxy: { ...HAPROXY, extra: { frontend: ["ok line", "two\nlines"] } } })), [
                "bluegreen:haproxy.extra.frontend[1]: expected one HAProxy config line without newlines or '#'",
            ]);
            assert.deepEqual(problems(with_({ haproxy: { ...HAPROXY, extra: { global: ["maxconn 10 # comment"] } } })), [
                "bluegreen:haproxy.extra.global[0]: expected one HAProxy config line without newlines or '#'",
            ]);
        });

        it("fills the missing extra sections with empty lists", () => {
            const c = parseConfig(with_({ haproxy: { ...HAPROXY, extra: { global: ["maxconn 100"] } } }), "dev");
            assert.deepEqual(c.haproxy.extra, { global: ["maxconn 100"], defaults: [], frontend: [] });
        });

        it("validates the artifact store and incus remote", () => {
            assert.deepEqual(problems(with_({ artifacts: { type: "http", url: "ftp://x" } })), ["bluegreen:artifacts.url: expected an http(s) URL"]);
            assert.deepEqual(problems(with_({ incus: { remote: "My_Remote" } })), [
                "bluegreen:incus.remote: expected lowercase letters, digits and single inner hyphens, starting with a letter",
            ]);
            const c = parseConfig(
                with_({
                    artifacts: { type: "http", url: "https://forge.example/api/packages/acme/generic" },
                    incus: { remote: "prod" },
                    haproxy: { ...(minimalRaw().haproxy as object), placement: "incus" },
                }),
                "dev",
            );
            assert.deepEqual(c.artifacts, { type: "http", url: "https://forge.example/api/packages/acme/generic" });
            assert.deepEqual(c.incus, { remote: "prod", image: "bluegreen-base", profiles: ["default"] });
        });

        it("refuses an http:// artifact registry off loopback (the token would travel in clear); loopback may use http", () => {
            const HTTPS =
                "bluegreen:artifacts.url: expected an https URL (http only to loopback: 127.0.0.0/8, ::1 or localhost): the token would travel in clear";
            for (const url of [
                "http://forge.example/api/packages/acme/generic",
                "http://10.0.0.5:3000/p",
                "http://128.0.0.1/p",
                "http://localhost.example/p",
                "http://[::2]/p",
            ]) {
                assert.deepEqual(problems(with_({ artifacts: { type: "http", url } })), [HTTPS], url);
            }
            for (const url of [
                "http://127.0.0.1:3000/api/packages/acme/generic",
                "http://127.9.8.7/p",
                "http://[::1]:3000/p",
                "http://localhost:3000",
                "https://10.0.0.5/p",
            ]) {
                assert.deepEqual(parseConfig(with_({ artifacts: { type: "http", url } }), "dev").artifacts, { type: "http", url }, url);
            }
        });

        describe("migrations", () => {
            it("takes force: true or false, and defaults it to false, also in an empty migrations object", () => {
                assert.deepEqual(parseConfig(with_({ migrations: { force: true } }), "dev").migrations, { force: true, block: [] });
                assert.deepEqual(parseConfig(with_({ migrations: { force: false } }), "dev").migrations, { force: false, block: [] });
                assert.deepEqual(parseConfig(with_({ migrations: {} }), "dev").migrations, { force: false, block: [] });
                assert.deepEqual(parseConfig(minimalRaw(), "dev").migrations, { force: false, block: [] });
            });

            it("takes block: warning rules that refuse, and names the rules it knows when one is not", () => {
                const block = ["require-concurrent-index-creation", "constraint-missing-not-valid"];
                assert.deepEqual(parseConfig(with_({ migrations: { block } }), "dev").migrations, { force: false, block });
                const [problem] = problems(with_({ migrations: { block: ["ban-drop-column"] } }));
                assert.match(
                    problem,
                    /^bluegreen:migrations\.block\[0\]: expected one of require-concurrent-index-creation, require-concurrent-index-deletion, /,
                );
            });

            it("refuses a force that is not a boolean, naming bluegreen:migrations.force", () => {
                for (const force of ["true", 1, "yes", null]) {
                    assert.deepEqual(problems(with_({ migrations: { force } })), ["bluegreen:migrations.force: expected true or false"], JSON.stringify(force));
                }
            });

            it("refuses an unknown key under migrations, and migrations that is not an object", () => {
                assert.deepEqual(problems(with_({ migrations: { force: true, dryRun: true } })), [
                    "bluegreen:migrations.dryRun: unknown key (check the spelling against the README's config reference)",
                ]);
                assert.deepEqual(problems(with_({ migrations: true })), ["bluegreen:migrations: expected object, received boolean"]);
            });

            it("reads the structured Pulumi config value", () => {
                const raw = rawFromPulumiConfig({
                    ...Object.fromEntries(Object.entries(minimalRaw()).map(([k, v]) => [`bluegreen:${k}`, typeof v === "string" ? v : JSON.stringify(v)])),
                    "bluegreen:migrations": '{"force":true}',
                });
                assert.deepEqual(parseConfig(raw, "dev").migrations, { force: true, block: [] });
            });
        });

        it("reports every problem at once, in one ConfigError message", () => {
            try {
                parseConfig(with_({ active: "green", haproxy: { frontendPort: 18100, exporterPort: 18100 } }), "Dev");
                assert.fail("accepted");
            } catch (e) {
                assert.ok(e instanceof ConfigError);
                assert.equal(e.name, "ConfigError");
                assert.equal(e.problems.length, 3);
                assert.equal(
                    e.message,
                    `invalid stack config:\n  ${e.problems.join("\n  ")}\nNothing was touched. Fix these keys in the stack's config (Pulumi.<stack>.yaml), then run again.`,
                );
                assert.match(e.problems[0], /^bluegreen:prefix: stack name "Dev"/);
                assert.match(e.problems[1], /^bluegreen:colors\.green: green is the active color/);
                assert.match(e.problems[2], /^bluegreen:haproxy\.exporterPort: port 18100 is already used/);
            }
        });
    });

    describe("canary and prometheus", () => {
        const CANARY_DEFAULTS = {
            windowSeconds: 3600,
            probeIntervalSeconds: 30,
            p95Seconds: 0.5,
            errorRatio: 0.005,
            minRequests: 20,
            healthTimeoutSeconds: 60,
            onRed: "rollback",
            queries: DEFAULT_QUERIES,
        };

        it("no canary and no prometheus by default", () => {
            const c = parseConfig(minimalRaw(), "dev");
            assert.equal("canary" in c, false);
            assert.equal("prometheus" in c, false);
        });

        it("an empty canary gets the seed's defaults, and the program's own Prometheus", () => {
            const c = parseConfig(with_({ canary: {} }), "dev");
            assert.deepEqual(c.canary, CANARY_DEFAULTS);
            assert.deepEqual(c.prometheus, { port: 19090, scrapeIntervalSeconds: 15 });
        });

        it("keeps every value that is given", () => {
            const queries = { p95: "q95{$selector}", errorRatio: "qerr{$selector}[$window]", requests: "qreq{$selector}" };
            const canary = {
                node: 2,
                windowSeconds: 300,
                probeIntervalSeconds: 10,
                p95Seconds: 0.25,
                errorRatio: 0.01,
                minRequests: 50,
                healthTimeoutSeconds: 30,
                onRed: "pause",
                queries,
            };
            const c = parseConfig(with_({ canary, prometheus: { url: "http://prom.example:9090" } }), "dev");
            assert.deepEqual(c.canary, canary);
            assert.deepEqual(c.prometheus, { url: "http://prom.example:9090", port: 19090, scrapeIntervalSeconds: 15 });
        });

        it("a query left out keeps its default", () => {
            const c = parseConfig(with_({ canary: { queries: { p95: "my_p95{$selector}" } } }), "dev");
            assert.deepEqual(c.canary?.queries, { ...DEFAULT_QUERIES, p95: "my_p95{$selector}" });
        });

        it("a prometheus section without a canary is kept", () => {
            assert.deepEqual(parseConfig(with_({ prometheus: { port: 19091 } }), "dev").prometheus, { port: 19091, scrapeIntervalSeconds: 15 });
        });

        it("names the key path of every bad canary value", () => {
            assert.deepEqual(
                problems(
                    with_({
                        canary: {
                            node: 0,
                            windowSeconds: 1.5,
                            probeIntervalSeconds: 0,
                            p95Seconds: 0,
                            errorRatio: 2,
                            minRequests: 0,
                            healthTimeoutSeconds: "60",
                            onRed: "ignore",
                        },
                    }),
                ),
                [
                    "bluegreen:canary.node: expected a node number of at least 1",
                    "bluegreen:canary.windowSeconds: expected whole seconds",
                    "bluegreen:canary.probeIntervalSeconds: expected at least 1 second",
                    "bluegreen:canary.p95Seconds: expected more than 0 seconds",
                    "bluegreen:canary.errorRatio: expected a ratio from 0 to 1",
                    "bluegreen:canary.minRequests: expected at least 1 request",
                    "bluegreen:canary.healthTimeoutSeconds: expected whole seconds",
                    "bluegreen:canary.onRed: expected rollback or pause",
                ],
            );
        });

        it("refuses unknown canary and query keys", () => {
            assert.deepEqual(problems(with_({ canary: { window: 60, queries: { latency: "x{$selector}" } } })), [
                "bluegreen:canary.queries.latency: unknown key (check the spelling against the README's config reference)",
                "bluegreen:canary.window: unknown key (check the spelling against the README's config reference)",
            ]);
        });

        it("refuses a query without $selector, or with an unknown placeholder", () => {
            assert.deepEqual(problems(with_({ canary: { queries: { requests: "sum(increase(http_requests_total[5m]))", p95: "p{$selector}[$interval]" } } })), [
                "bluegreen:canary.queries.p95: unknown placeholder $interval; the placeholders are $selector and $window",
                "bluegreen:canary.queries.requests: expected $selector where the label matchers of the targets under judgement go, e.g. http_requests_total{$selector}",
            ]);
        });

        it("issue 23: failureLimit, inconclusiveLimit, metrics and load are kept; the shift inherits the limits and metrics", () => {
            const canary = {
                failureLimit: 2,
                inconclusiveLimit: 1,
                metrics: [{ name: "p99", query: "histogram_quantile(0.99, sum by (le) (rate(x_bucket{$selector}[$window])))", max: 0.8 }],
                load: { path: "/api/items", rps: 20, concurrency: 2, headers: { "X-Load": "bluegreen" } },
            };
            const c = parseConfig(with_({ canary, progressive: { steps: [50, 100], load: { path: "/", rps: 5, concurrency: 1 } } }), "dev");
            assert.deepEqual({ ...c.canary, ...CANARY_DEFAULTS, ...canary }, c.canary);
            assert.equal(c.progressive!.failureLimit, 2);
            assert.equal(c.progressive!.inconclusiveLimit, 1);
            assert.deepEqual(c.progressive!.metrics, canary.metrics);
            assert.deepEqual(c.progressive!.load, { path: "/", rps: 5, concurrency: 1 });
            const bare = parseConfig(with_({ progressive: { steps: [100] } }), "dev");
            assert.equal(bare.progressive!.failureLimit, 0);
            assert.equal(bare.progressive!.inconclusiveLimit, 0);
        });

        it("issue 23: refuses a metric without a bound or $selector, a duplicate name, a credential header and a bad load", () => {
            assert.deepEqual(
                problems(
                    with_({
                        canary: {
                            failureLimit: -1,
                            metrics: [
                                { name: "a", query: "up{$selector}" },
                                { name: "b", query: "up", max: 1 },
                                { name: "c", query: "up{$selector}", min: 2, max: 1 },
                            ],
                            load: { path: "api", rps: 0, concurrency: 1, headers: { Authorization: "Bearer x" } },
                        },
                    }),
                ),
                [
                    "bluegreen:canary.failureLimit: expected 0 or more probes",
                    "bluegreen:canary.metrics[0]: expected max, min or both: a metric without a bound judges nothing",
                    "bluegreen:canary.metrics[1].query: expected $selector where the label matchers of the targets under judgement go, e.g. http_requests_total{$selector}",
                    "bluegreen:canary.metrics[2]: expected min at most max",
                    "bluegreen:canary.load.path: expected a path starting with / and no spaces, such as /api/items",
                    "bluegreen:canary.load.rps: expected more than 0 requests per second",
                    "bluegreen:canary.load.headers.Authorization: Authorization looks like a credential, and bluegreen:canary.load is plain text in the stack's config and state; point load.path at a route that needs none",
                ],
            );
            assert.deepEqual(
                problems(
                    with_({
                        canary: {
                            metrics: [
                                { name: "a", query: "x{$selector}", max: 1 },
                                { name: "a", query: "y{$selector}", max: 1 },
                            ],
                        },
                    }),
                ),
                ["bluegreen:canary.metrics: expected each metric's name once"],
            );
            assert.deepEqual(
                problems(
                    with_({
                        canary: { metrics: [{ name: "p99", query: "histogram_quantile(0.99, sum by (le) (rate(x_bucket{$selector}[$window]))", max: 1 }] },
                    }),
                ),
                ["bluegreen:canary.metrics[0].query: expected PromQL: it ends too soon"],
            );
        });

        it("issue 23: bluegreen:testStack is kept only when true", () => {
            assert.equal(parseConfig(with_({ testStack: true }), "dev").testStack, true);
            assert.equal("testStack" in parseConfig(with_({ testStack: false }), "dev"), false);
        });

        it("refuses a probe interval longer than the window", () => {
            assert.deepEqual(problems(with_({ canary: { windowSeconds: 20, probeIntervalSeconds: 30 } })), [
                "bluegreen:canary.probeIntervalSeconds: 30 s is longer than canary.windowSeconds (20 s); a window needs at least one probe",
            ]);
        });

        it("refuses a Prometheus URL with credentials, or that is not http(s)", () => {
            for (const url of ["http://user:pw@prom:9090", "ftp://prom", "prom:9090"]) {
                assert.deepEqual(
                    problems(with_({ prometheus: { url } })),
                    [
                        "bluegreen:prometheus.url: expected an http(s) URL such as http://prom.example:9090, without credentials (they would end up in state and logs)",
                    ],
                    url,
                );
            }
        });

        it("names bad prometheus values and unknown keys", () => {
            assert.deepEqual(problems(with_({ prometheus: { port: 0, scrapeIntervalSeconds: 0, retention: "2d" } })), [
                "bluegreen:prometheus.port: expected a port from 1 to 65535",
                "bluegreen:prometheus.scrapeIntervalSeconds: expected at least 1 second",
                "bluegreen:prometheus.retention: unknown key (check the spelling against the README's config reference)",
            ]);
        });

        describe("prometheus.placement", () => {
            const INCUS = { placement: "incus", frontendPort: 18100, exporterPort: 18101 };
            it("host by default, and host stays out of the parsed section, so stacks read as before the key", () => {
                assert.deepEqual(parseConfig(with_({ canary: {}, haproxy: INCUS }), "dev").prometheus, { port: 19090, scrapeIntervalSeconds: 15 });
                assert.deepEqual(parseConfig(with_({ prometheus: { placement: "host" } }), "dev").prometheus, { port: 19090, scrapeIntervalSeconds: 15 });
            });

            it("incus is kept with an incus HAProxy, and is the default with a remote and no url", () => {
                assert.deepEqual(parseConfig(with_({ prometheus: { placement: "incus" }, haproxy: INCUS }), "dev").prometheus, {
                    port: 19090,
                    scrapeIntervalSeconds: 15,
                    placement: "incus",
                });
                assert.equal(parseConfig(with_({ canary: {}, haproxy: INCUS, incus: { remote: "prod" } }), "dev").prometheus?.placement, "incus");
                // An own server cannot reach the remote host's loopback targets: refused, naming the way that works.
                assert.throws(
                    () => parseConfig(with_({ prometheus: { url: "http://prom.example:9090" }, haproxy: INCUS, incus: { remote: "prod" } }), "dev"),
                    /bluegreen:prometheus\.url cannot go with bluegreen:incus\.remote \(prod\).*prometheus\.placement: incus/,
                );
            });

            it("refuses incus without an incus HAProxy, incus with a url, host with a remote, and other values", () => {
                assert.deepEqual(problems(with_({ prometheus: { placement: "incus" } })), [
                    "bluegreen:prometheus.placement: incus runs Prometheus inside the HAProxy instance, and haproxy.placement is host; set haproxy.placement: incus, or prometheus.placement: host",
                ]);
                assert.deepEqual(problems(with_({ prometheus: { placement: "incus", url: "http://prom.example:9090" }, haproxy: INCUS })), [
                    "bluegreen:prometheus.placement: incus runs the program's own Prometheus, but prometheus.url names your own server; drop one of them",
                ]);
                assert.deepEqual(problems(with_({ prometheus: { placement: "host" }, haproxy: INCUS, incus: { remote: "prod" } })), [
                    "bluegreen:prometheus.placement: host runs Prometheus on this machine, which cannot reach the apps on remote prod; set prometheus.placement: incus, or prometheus.url to your own server",
                ]);
                assert.deepEqual(problems(with_({ prometheus: { placement: "cluster" } })), ["bluegreen:prometheus.placement: expected host or incus"]);
            });
        });

        it("counts the Prometheus the program runs in port clashes, but not an operator's server", () => {
            assert.deepEqual(problems(with_({ prometheus: { port: 18101 } })), [
                "bluegreen:prometheus.port: port 18101 is already used by bluegreen:haproxy.exporterPort; every loopback port must be distinct",
            ]);
            assert.deepEqual(problems(with_({ canary: {}, haproxy: { frontendPort: 19090, exporterPort: 18101 } })), [
                "bluegreen:prometheus.port: port 19090 is already used by bluegreen:haproxy.frontendPort; every loopback port must be distinct",
            ]);
            assert.ok(parseConfig(with_({ prometheus: { url: "http://prom.example:9090", port: 18101 } }), "dev"));
        });

        it("reads canary and prometheus from Pulumi's flat config", () => {
            const c = loadConfig(
                {
                    "bluegreen:active": "blue",
                    "bluegreen:colors": '{"blue":{"release":"abc1234"}}',
                    "bluegreen:haproxy": '{"frontendPort":18100,"exporterPort":18101}',
                    "bluegreen:canary": '{"windowSeconds":600,"p95Seconds":0.3}',
                    "bluegreen:prometheus": '{"url":"http://prom.example:9090"}',
                },
                () => false,
                "staging",
            );
            assert.equal(c.canary?.windowSeconds, 600);
            assert.equal(c.canary?.p95Seconds, 0.3);
            assert.equal(c.prometheus?.url, "http://prom.example:9090");
        });
    });

    describe("rawFromPulumiConfig", () => {
        it("parses JSON objects, arrays, integers and booleans, keeps strings, ignores other namespaces", () => {
            const raw = rawFromPulumiConfig({
                "bluegreen:active": "blue",
                "bluegreen:colors": '{"blue":{"release":"abc1234"}}',
                "bluegreen:haproxy": '{"frontendPort":18100,"exporterPort":18101}',
                "bluegreen:list": '["a","b"]',
                "bluegreen:count": "42",
                "bluegreen:negative": "-3",
                "bluegreen:flag": "true",
                "bluegreen:off": "false",
                "bluegreen:prefix": "dev-",
                "aws:region": "us-east-1",
                "other:colors": "{}",
            });
            assert.deepEqual(raw, {
                active: "blue",
                colors: { blue: { release: "abc1234" } },
                haproxy: { frontendPort: 18100, exporterPort: 18101 },
                list: ["a", "b"],
                count: 42,
                negative: -3,
                flag: true,
                off: false,
                prefix: "dev-",
            });
        });

        it("keeps text that only looks like JSON as a string", () => {
            const raw = rawFromPulumiConfig({ "bluegreen:a": "{oops", "bluegreen:b": "0123456", "bluegreen:c": "1.5" });
            assert.deepEqual(raw, { a: "{oops", b: "0123456", c: "1.5" });
        });

        it("skips the secret keys it is given", () => {
            const raw = rawFromPulumiConfig({ "bluegreen:artifactToken": "s3cret", "bluegreen:active": "blue" }, ["bluegreen:artifactToken"]);
            assert.deepEqual(raw, { active: "blue" });
        });

        it("feeds parseConfig: a digits-only release in JSON text stays a string", () => {
            const c = parseConfig(
                rawFromPulumiConfig({
                    "bluegreen:active": "blue",
                    "bluegreen:colors": '{"blue":{"release":"1234567"}}',
                    "bluegreen:haproxy": '{"frontendPort":18100,"exporterPort":18101}',
                }),
                "dev",
            );
            assert.equal(c.colors.blue?.release, "1234567");
        });
    });

    describe("health expectations, env and cleanup", () => {
        const comp = (over: Record<string, unknown>) => with_({ components: { web: { hostPort: 18130, route: "/", ...over } } });
        const problems = (raw: Record<string, unknown>) => {
            try {
                parseConfig(raw, "dev");
                return [];
            } catch (e) {
                return (e as ConfigError).problems;
            }
        };

        it("reads a status list, a body match and the plain environment", () => {
            const c = parseConfig(comp({ healthStatus: "200-299,304", healthBody: "status:ok", env: { LOG_LEVEL: "debug", EMPTY: "" } }), "dev");
            assert.deepEqual(c.components[0], {
                name: "web",
                port: 8080,
                hostPort: 18130,
                nodes: 1,
                route: "/",
                healthPath: "/health",
                healthStatus: "200-299,304",
                healthBody: "status:ok",
                env: { LOG_LEVEL: "debug", EMPTY: "" },
                secretEnv: [],
            });
        });

        it("names the key of a bad status list, body match or variable", () => {
            assert.deepEqual(problems(comp({ healthStatus: "2xx" })), [
                "bluegreen:components.web.healthStatus: expected statuses like 200, 200-299 or 200-299,304",
            ]);
            assert.deepEqual(problems(comp({ healthStatus: "299-200" })), ["bluegreen:components.web.healthStatus: expected each range low-high"]);
            assert.deepEqual(problems(comp({ healthBody: "has space" })), [
                "bluegreen:components.web.healthBody: expected up to 200 letters, digits or ._:/=+,;@%- (no spaces or quotes)",
            ]);
            assert.match(
                problems(comp({ env: { lower: "x" } }))[0],
                /^bluegreen:components\.web\.env\.lower: invalid name: expected an environment variable name/,
            );
            assert.deepEqual(problems(comp({ env: { A: "two\nlines" } })), [
                "bluegreen:components.web.env.A: expected a value on one line (no newline or NUL)",
            ]);
        });

        it("reads cleanup.assumeActive, and nothing else there", () => {
            assert.deepEqual(parseConfig(with_({ cleanup: { assumeActive: "green" } }), "dev").cleanup, { assumeActive: "green" });
            assert.deepEqual(problems(with_({ cleanup: { assumeActive: "red" } })), ["bluegreen:cleanup.assumeActive: expected blue or green"]);
            assert.match(problems(with_({ cleanup: { force: true } }))[0], /^bluegreen:cleanup\.force: unknown key/);
        });
    });

    describe("hooks, broadcast, retain and boot", () => {
        it("keeps what is set, and refuses a bad value by path", () => {
            const c = parseConfig(
                with_({ hooks: { preDeploy: "scripts/check.sh" }, broadcast: "notify", retain: { releases: 5 }, boot: { limit: "25%" } }),
                "dev",
            );
            assert.deepEqual(c.hooks, { preDeploy: "scripts/check.sh" });
            assert.equal(c.broadcast, "notify");
            assert.deepEqual(c.retain, { releases: 5 });
            assert.deepEqual(c.boot, { limit: "25%", waitSeconds: 0 });
            assert.match(problems(with_({ hooks: { preDeploy: " " } }))[0], /^bluegreen:hooks\.preDeploy: expected a shell command/);
            assert.match(problems(with_({ hooks: { onDeploy: "x" } }))[0], /^bluegreen:hooks\.onDeploy: unknown key/);
            assert.match(problems(with_({ retain: { releases: 0 } }))[0], /^bluegreen:retain\.releases: expected at least 1/);
            assert.match(problems(with_({ boot: { limit: "150%" } }))[0], /^bluegreen:boot\.limit: /);
        });

        it("hooks.passEnv names the variables hooks and the broadcast get beyond the minimal environment", () => {
            const c = parseConfig(with_({ hooks: { postSwitch: "notify", passEnv: ["SLACK_WEBHOOK_URL", "DEPLOY_CHANNEL"] } }), "dev");
            assert.deepEqual((c.hooks as { passEnv?: unknown }).passEnv, ["SLACK_WEBHOOK_URL", "DEPLOY_CHANNEL"]);
            assert.match(
                problems(with_({ hooks: { passEnv: ["OK", "NOT A NAME"] } }))[0],
                /^bluegreen:hooks\.passEnv\[1\]: expected an environment variable name/,
            );
            assert.match(problems(with_({ hooks: { passEnv: ["$(id)"] } }))[0], /^bluegreen:hooks\.passEnv\[0\]: expected an environment variable name/);
            assert.match(problems(with_({ hooks: { passEnv: "DEPLOY_CHANNEL" } }))[0], /^bluegreen:hooks\.passEnv: /);
        });
    });

    describe("adopt", () => {
        it("is a boolean, absent unless true, and refused by path otherwise", () => {
            assert.equal(parseConfig(with_({ adopt: true }), "dev").adopt, true);
            assert.equal("adopt" in parseConfig(with_({ adopt: false }), "dev"), false);
            assert.equal("adopt" in parseConfig(minimalRaw(), "dev"), false);
            assert.deepEqual(problems(with_({ adopt: "yes" })), ["bluegreen:adopt: expected true or false"]);
            assert.equal(
                loadConfig(
                    {
                        "bluegreen:active": "blue",
                        "bluegreen:colors": '{"blue":{"release":"abc1234"}}',
                        "bluegreen:haproxy": JSON.stringify(HAPROXY),
                        "bluegreen:adopt": "true",
                    },
                    () => false,
                    "dev",
                ).adopt,
                true,
            );
        });
    });

    describe("progressive", () => {
        it("takes the canary's thresholds where unset, implies Prometheus, and refuses bad steps by path", () => {
            const c = parseConfig(with_({ progressive: { steps: [10, 50, 100] }, canary: { p95Seconds: 0.3 } }), "dev");
            assert.equal(c.progressive!.p95Seconds, 0.3);
            assert.equal(c.progressive!.stepSeconds, 60);
            assert.equal(c.progressive!.maxP95Factor, 1.5);
            assert.ok(c.prometheus);
            const alone = parseConfig(with_({ progressive: { steps: [100], stepSeconds: 5, probeIntervalSeconds: 30 } }), "dev");
            assert.equal(alone.progressive!.probeIntervalSeconds, 5, "at most one window");
            assert.equal(alone.progressive!.errorRatio, 0.005);
            assert.ok(alone.prometheus, "a shift reads SLIs");
            assert.match(problems(with_({ progressive: { steps: [50, 20, 100] } }))[0], /^bluegreen:progressive\.steps: expected increasing percents/);
            assert.match(problems(with_({ progressive: { steps: [10, 50] } }))[0], /^bluegreen:progressive\.steps: expected the last step to be 100/);
        });
    });

    describe("manual gates (README: Rollout controls)", () => {
        it("promotion and gateTimeoutSeconds: the shift and the switch take the canary's, refused by path", () => {
            const plain = parseConfig(with_({ canary: {}, progressive: { steps: [50, 100] } }), "dev");
            assert.equal(plain.canary!.promotion, undefined, "absent keys keep an existing stack's canary inputs");
            assert.equal(plain.progressive!.promotion, "auto");
            assert.equal(plain.progressive!.gateTimeoutSeconds, 86_400);
            assert.equal(plain.switchGate, undefined);
            const manual = parseConfig(
                with_({ canary: { promotion: "manual", gateTimeoutSeconds: 60 }, progressive: { steps: [50, 100] }, switch: { promotion: "manual" } }),
                "dev",
            );
            assert.equal(manual.progressive!.promotion, "manual");
            assert.equal(manual.progressive!.gateTimeoutSeconds, 60);
            assert.deepEqual(manual.switchGate, { gateTimeoutSeconds: 60 });
            assert.equal(parseConfig(with_({ progressive: { steps: [100], promotion: "manual" } }), "dev").progressive!.promotion, "manual");
            assert.match(problems(with_({ canary: { promotion: "later" } }))[0], /^bluegreen:canary\.promotion: expected auto or manual/);
            assert.match(
                problems(with_({ switch: { promotion: "manual", gateTimeoutSeconds: 0 } }))[0],
                /^bluegreen:switch\.gateTimeoutSeconds: expected at least 1 second/,
            );
        });
    });

    describe("stateful services", () => {
        const db = { release: "1A1A1A1", hostPort: 18150, volumes: { data: "/var/lib/bluegreen-data", logs: "/var/log/db" } };

        it("fills defaults, lowercases the release and sorts volumes", () => {
            const c = parseConfig(with_({ stateful: { db } }), "dev");
            assert.deepEqual(c.stateful, [
                {
                    name: "db",
                    release: "1a1a1a1",
                    port: 8080,
                    hostPort: 18150,
                    healthPath: "/health",
                    healthStatus: "200-299",
                    env: {},
                    volumes: [
                        { name: "data", path: "/var/lib/bluegreen-data" },
                        { name: "logs", path: "/var/log/db" },
                    ],
                    pool: "default",
                    deleteVolumes: false,
                },
            ]);
        });

        it("keeps a route, and refuses one a component or another service owns", () => {
            assert.equal(parseConfig(with_({ stateful: { db: { ...db, route: "/db" } } }), "dev").stateful[0].route, "/db");
            assert.deepEqual(problems(with_({ stateful: { db: { ...db, route: "/api/" } } })), [
                "bluegreen:stateful.db.route: /api/ is already routed to backend",
            ]);
            assert.deepEqual(problems(with_({ stateful: { a: { ...db, route: "/db" }, b: { ...db, hostPort: 18151, route: "/db/" } } })), [
                "bluegreen:stateful.b.route: /db/ is already routed to stateful service a",
            ]);
            assert.match(problems(with_({ stateful: { db: { ...db, route: "db" } } }))[0], /^bluegreen:stateful\.db\.route: expected an absolute URL path/);
        });

        it("keeps restore when set", () => {
            const c = parseConfig(with_({ stateful: { db: { ...db, restore: "kg-20261203t081500z-1a1a1a1" } } }), "dev");
            assert.equal(c.stateful[0].restore, "kg-20261203t081500z-1a1a1a1");
        });

        it("refuses a service without volumes, a shared mount path and a malformed snapshot id, by path", () => {
            assert.deepEqual(problems(with_({ stateful: { db: { ...db, volumes: {} } } })), [
                "bluegreen:stateful.db.volumes: expected at least one volume: a stateful service without data is a component",
            ]);
            assert.deepEqual(problems(with_({ stateful: { db: { ...db, volumes: { a: "/d", b: "/d" } } } })), [
                "bluegreen:stateful.db.volumes: expected a distinct mount path per volume",
            ]);
            assert.match(
                problems(with_({ stateful: { db: { ...db, restore: "yesterday" } } }))[0],
                /^bluegreen:stateful\.db\.restore: expected a snapshot id like kg-/,
            );
            assert.match(problems(with_({ stateful: { db: { ...db, release: "latest" } } }))[0], /^bluegreen:stateful\.db\.release: expected 7-40 hex/);
        });

        it("refuses a port another component owns, and a name that is another container's", () => {
            const clash = problems(with_({ stateful: { db: { ...db, hostPort: 18110 } } }));
            assert.ok(
                clash.some((p) => p.startsWith("bluegreen:stateful.db.hostPort: port 18110 is already used by bluegreen:components.backend.hostPort")),
                clash.join("\n"),
            );
            assert.deepEqual(problems(with_({ stateful: { "web-blue": db } })), [
                "bluegreen:stateful.web-blue: its container dev-web-blue would be the name of a component's container; rename the service",
            ]);
            assert.deepEqual(problems(with_({ stateful: { haproxy: db } })), [
                "bluegreen:stateful.haproxy: its container dev-haproxy would be the name of the HAProxy instance; rename the service",
            ]);
        });
        it("reserves the colors' names: HAProxy would read a service named blue, green or blue-<x> as a color's server", () => {
            for (const name of ["blue", "green", "blue-db", "green-2"]) {
                assert.deepEqual(problems(with_({ stateful: { [name]: db } })), [
                    `bluegreen:stateful.${name}: the name ${name} reads as a color's server (blue, green, blue-<n>, green-<n>), which the cleanup guard counts as that color's traffic; rename the service`,
                ]);
            }
            assert.equal(parseConfig(with_({ stateful: { bluedb: db } }), "dev").stateful[0].name, "bluedb", "only the color or color- prefix is reserved");
        });
    });

    describe("loadConfig", () => {
        const all = {
            "bluegreen:active": "blue",
            "bluegreen:colors": '{"blue":{"release":"abc1234"}}',
            "bluegreen:haproxy": '{"frontendPort":18100,"exporterPort":18101}',
        };

        it("lists artifactToken and secretEnv as its secret keys", () => {
            assert.deepEqual([...SECRET_KEYS], ["artifactToken", "secretEnv"]);
        });

        it("reads secretEnv's variable names, never its values", () => {
            const secret = JSON.stringify({ web: { DB_PASSWORD: "hunter2-value", API_KEY: "k-value" } });
            const c = loadConfig({ ...all, "bluegreen:secretEnv": secret }, (k) => k === "bluegreen:secretEnv", "dev");
            assert.deepEqual(c.components.find((x) => x.name === "web")!.secretEnv, ["API_KEY", "DB_PASSWORD"]);
            assert.deepEqual(c.components.find((x) => x.name === "backend")!.secretEnv, []);
            assert.equal(JSON.stringify(c).includes("hunter2"), false);
        });

        it("refuses a bad secretEnv naming the key path, without the value", () => {
            const bad = (v: unknown, raw = false) =>
                (() => {
                    try {
                        loadConfig({ ...all, "bluegreen:secretEnv": raw ? String(v) : JSON.stringify(v) }, (k) => k === "bluegreen:secretEnv", "dev");
                        return "";
                    } catch (e) {
                        return (e as Error).message;
                    }
                })();
            const notJson = bad("{hunter2", true);
            assert.match(notJson, /bluegreen:secretEnv: expected a JSON object .*the value is not shown/);
            assert.equal(notJson.includes("hunter2"), false);
            assert.match(bad({ web: { "bad name": "hunter2" } }), /bluegreen:secretEnv\.web\.bad name: invalid name: expected an environment variable name/);
            const multi = bad({ web: { A: "hunter2\nline" } });
            assert.match(multi, /bluegreen:secretEnv\.web\.A: expected a value on one line/);
            assert.equal(multi.includes("hunter2"), false);
            assert.match(bad({ nope: { A: "x" } }), /bluegreen:secretEnv\.nope: no component nope in bluegreen:components/);
            assert.match(
                (() => {
                    try {
                        loadConfig(
                            {
                                ...all,
                                "bluegreen:components": JSON.stringify({ web: { hostPort: 18130, route: "/", env: { A: "plain" } } }),
                                "bluegreen:secretEnv": JSON.stringify({ web: { A: "x" } }),
                            },
                            (k) => k === "bluegreen:secretEnv",
                            "dev",
                        );
                        return "";
                    } catch (e) {
                        return (e as Error).message;
                    }
                })(),
                /bluegreen:secretEnv\.web\.A: also set in bluegreen:components\.web\.env; keep one/,
            );
        });

        it("refuses a secretEnv that is not a secret", () => {
            assert.throws(() => loadConfig({ ...all, "bluegreen:secretEnv": "{}" }, () => false, "dev"), /bluegreen:secretEnv: expected a secret/);
        });

        it("loads a config without a token", () => {
            const c = loadConfig(all, () => false, "dev");
            assert.equal(c.prefix, "dev-");
            assert.deepEqual(c.colors, { blue: { release: "abc1234" } });
        });

        it("skips a secret artifactToken instead of refusing it as unknown", () => {
            const seen: string[] = [];
            const c = loadConfig(
                { ...all, "bluegreen:artifactToken": "[secret]" },
                (k) => {
                    seen.push(k);
                    return k === "bluegreen:artifactToken";
                },
                "dev",
            );
            assert.equal(c.active, "blue");
            assert.equal(JSON.stringify(c).includes("[secret]"), false);
            assert.ok(seen.includes("bluegreen:artifactToken"));
        });

        it("refuses an artifactToken that is not a secret", () => {
            assert.throws(
                () => loadConfig({ ...all, "bluegreen:artifactToken": "plain" }, () => false, "dev"),
                (e: unknown) => {
                    assert.ok(e instanceof ConfigError);
                    assert.deepEqual(e.problems, [
                        "bluegreen:artifactToken: expected a secret; set it with `pulumi config set --secret bluegreen:artifactToken <value>`",
                    ]);
                    assert.equal(e.message.includes("plain"), false);
                    return true;
                },
            );
        });

        it("reports the secret problem together with the schema problems", () => {
            assert.throws(
                () => loadConfig({ ...all, "bluegreen:artifactToken": "plain", "bluegreen:colors": '{"blue":{"release":"nothex!"}}' }, () => false, "dev"),
                (e: unknown) => {
                    assert.ok(e instanceof ConfigError);
                    assert.deepEqual(e.problems, [
                        "bluegreen:artifactToken: expected a secret; set it with `pulumi config set --secret bluegreen:artifactToken <value>`",
                        "bluegreen:colors.blue.release: expected 7-40 hex characters",
                    ]);
                    return true;
                },
            );
        });

        it("treats another secret key like a plain one (only artifactToken is skipped)", () => {
            assert.throws(
                () => loadConfig({ ...all, "bluegreen:password": "x" }, () => true, "dev"),
                (e: unknown) => e instanceof ConfigError && e.problems[0].startsWith("bluegreen:password: unknown key"),
            );
        });
    });
});
