import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { parseArgs, presentOutputs } from "../../runner/cli";
import { UsageError } from "../../runner/project";
import YAML from "yaml";
import { SECRET_SIG, SIG_KEY, openCrypter } from "../../runner/secrets";
import { REPO, runCli, shown } from "../helpers/cli";
import { makeTmp, removeTmp } from "../helpers/tmp";

const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

describe("runner/cli", () => {
    describe("parseArgs", () => {
        // Only the options this file knows about are compared, so a new option does not break it.
        const KNOWN = ["command", "positional", "stack", "json", "configFile", "cwd", "showSecrets", "secret"] as const;
        const known = (a: ReturnType<typeof parseArgs>) => Object.fromEntries(KNOWN.filter((k) => a[k] !== undefined).map((k) => [k, a[k]]));

        it("has defaults: no command, cwd = process.cwd(), every flag off", () => {
            assert.deepEqual(known(parseArgs([])), { command: "", positional: [], json: false, cwd: process.cwd(), showSecrets: false, secret: false });
        });

        it("reads every option, in any order", () => {
            const a = parseArgs(["--json", "up", "--stack", "prod", "--config-file", "/tmp/p.yaml", "--cwd", "/srv/project", "--show-secrets"]);
            assert.deepEqual(known(a), {
                command: "up",
                positional: [],
                stack: "prod",
                json: true,
                configFile: "/tmp/p.yaml",
                cwd: "/srv/project",
                showSecrets: true,
                secret: false,
            });
        });

        it("accepts -s, resolves a relative --cwd, and ignores --yes/-y/--skip-preview", () => {
            const a = parseArgs(["preview", "-s", "dev", "--cwd", "sub/dir", "--yes", "-y", "--skip-preview"]);
            assert.equal(a.command, "preview");
            assert.equal(a.stack, "dev");
            assert.equal(a.cwd, path.resolve("sub/dir"));
            assert.deepEqual(a.positional, []);
        });

        it("collects positionals after the command (config set) and --secret", () => {
            const a = parseArgs(["config", "set", "bluegreen:artifactToken", "t0k", "--secret", "--stack", "prod"]);
            assert.equal(a.command, "config");
            assert.deepEqual(a.positional, ["set", "bluegreen:artifactToken", "t0k"]);
            assert.equal(a.secret, true);
        });

        it("turns --help and -h into the help command", () => {
            assert.equal(parseArgs(["--help"]).command, "help");
            assert.equal(parseArgs(["-h"]).command, "help");
        });

        it("refuses an unknown option", () => {
            assert.throws(
                () => parseArgs(["up", "--stak", "dev"]),
                (e: Error) => e instanceof UsageError && e.message === "unknown option --stak",
            );
            assert.throws(() => parseArgs(["up", "-x"]), /unknown option -x/);
        });

        it("refuses --target and the other targeting options, saying the runner works on the whole stack", () => {
            for (const o of ["--target", "-t", "--target=urn:x", "--exclude", "--replace", "--target-dependents"]) {
                assert.throws(
                    () => parseArgs(["up", o, "urn:x"]),
                    (e: Error) => e instanceof UsageError && /is not supported by the offline runner: it always operates on the whole stack/.test(e.message),
                    o,
                );
            }
            assert.equal(parseArgs(["preview", "--markdown"]).markdown, true);
        });

        it("refuses an option without its value, at the end or before another option", () => {
            assert.throws(
                () => parseArgs(["up", "--stack"]),
                (e: Error) => e instanceof UsageError && e.message === "--stack needs a value",
            );
            assert.throws(() => parseArgs(["up", "--stack", "--json"]), /--stack needs a value/);
            assert.throws(() => parseArgs(["up", "--config-file"]), /--config-file needs a value/);
            assert.throws(() => parseArgs(["up", "--cwd", "--json"]), /--cwd needs a value/);
            assert.throws(() => parseArgs(["up", "-s"]), /-s needs a value/);
        });
    });

    describe("presentOutputs", () => {
        const outputs = {
            url: "http://127.0.0.1:18100",
            token: secret("t0ken-value"),
            nested: { list: [1, secret({ pw: "inner-pw" })], plain: null },
            wrappedTwice: secret(secret("deep")),
        };

        it("replaces every secret with [secret], at any depth", () => {
            assert.deepEqual(presentOutputs(outputs, false), {
                url: "http://127.0.0.1:18100",
                token: "[secret]",
                nested: { list: [1, "[secret]"], plain: null },
                wrappedTwice: "[secret]",
            });
        });

        it("shows the plaintext, unwrapped, with showSecrets", () => {
            assert.deepEqual(presentOutputs(outputs, true), {
                url: "http://127.0.0.1:18100",
                token: "t0ken-value",
                nested: { list: [1, { pw: "inner-pw" }], plain: null },
                wrappedTwice: "deep",
            });
        });

        it("leaves values without secrets as they are", () => {
            assert.deepEqual(presentOutputs({ a: [1, "x"], b: { c: true } }, false), { a: [1, "x"], b: { c: true } });
            assert.equal(presentOutputs("text", false), "text");
        });
    });

    describe("as a command", function () {
        this.timeout(60_000);
        let dir: string;
        afterEach(() => removeTmp(dir));

        it("prints the usage and exits 2 without a command, and refuses --stack-less and unknown commands", () => {
            dir = makeTmp("bluegreen-cli-");
            const none = runCli([]);
            assert.equal(none.code, 2, shown(none));
            assert.match(none.stdout, /^usage: npm run local -- <command> --stack <name> \[options\]/);

            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: clitest\nruntime: nodejs\n");
            fs.writeFileSync(path.join(dir, "index.ts"), "export {};\n");
            const unknown = runCli(["frobnicate", "--stack", "dev", "--cwd", dir]);
            assert.equal(unknown.code, 2, shown(unknown));
            assert.match(unknown.stderr, /^error: unknown command frobnicate/);
            const noStack = runCli(["up", "--cwd", dir]);
            assert.equal(noStack.code, 2, shown(noStack));
            assert.match(noStack.stderr, /^error: --stack <name> is required/);
            assert.deepEqual(fs.readdirSync(dir).sort(), ["Pulumi.yaml", "index.ts"]);
        });

        it("config set writes the stack file named by --config-file", () => {
            dir = makeTmp("bluegreen-cli-");
            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: clitest\nruntime: nodejs\n");
            fs.writeFileSync(path.join(dir, "index.ts"), "export {};\n");
            const file = path.join(dir, "conf", "stack.yaml");
            fs.mkdirSync(path.dirname(file));
            const r = runCli(["config", "set", "colors", '{"blue":{"release":"a1b2c3d"}}', "--stack", "dev", "--cwd", dir, "--config-file", file]);
            assert.equal(r.code, 0, shown(r));
            assert.equal(fs.readFileSync(file, "utf8"), "config:\n  clitest:colors:\n    blue:\n      release: a1b2c3d\n");
            const missing = runCli(["config", "set", "onlykey", "--stack", "dev", "--cwd", dir, "--config-file", file]);
            assert.equal(missing.code, 2, shown(missing));
            assert.match(missing.stderr, /config set onlykey: no value: give it after the key, or on stdin/);
            assert.match(missing.stderr, /usage: config set <key> \[<value>\] \[--secret\] --stack <name>/);
        });

        it("config set <key> --secret reads the value from stdin when it is left out, so it is never on argv (as `pulumi config set --secret`)", () => {
            dir = makeTmp("bluegreen-cli-");
            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: clitest\nruntime: nodejs\n");
            fs.writeFileSync(path.join(dir, "index.ts"), "export {};\n");
            const file = path.join(dir, "stack.yaml");
            const at = ["--stack", "dev", "--cwd", dir, "--config-file", file];
            const env = { PULUMI_CONFIG_PASSPHRASE: "pass phrase" };
            const r = runCli(["config", "set", "artifactToken", "--secret", ...at], env, 60_000, "tok en from stdin\n");
            assert.equal(r.code, 0, shown(r));
            const doc = YAML.parse(fs.readFileSync(file, "utf8"));
            const stored = doc.config["clitest:artifactToken"].secure;
            assert.equal(openCrypter("pass phrase", doc.encryptionsalt).decrypt(stored), "tok en from stdin", "one trailing newline is dropped");
            assert.doesNotMatch(fs.readFileSync(file, "utf8"), /tok en/);
            const plain = runCli(["config", "set", "note", ...at], env, 60_000, "two\nlines\n\n");
            assert.equal(plain.code, 0, shown(plain));
            assert.equal(YAML.parse(fs.readFileSync(file, "utf8")).config["clitest:note"], "two\nlines\n");
        });

        describe("a bad stack config: the problems and exit 2, no stack trace (issue 20)", () => {
            const BASE = fs.readFileSync(path.join(REPO, "Pulumi.dev.yaml"), "utf8");
            const cases: [string, string, RegExp][] = [
                [
                    "an unknown key",
                    BASE.replace("  bluegreen:prefix: dev-\n", "  bluegreen:prefix: dev-\n  bluegreen:bogus: 1\n"),
                    /bluegreen:bogus: unknown key/,
                ],
                [
                    "a numeric SHA",
                    BASE.replace('release: "a1b2c3d"', "release: 1234567"),
                    /bluegreen:colors\.blue\.release: expected 7-40 hex characters as a string/,
                ],
                [
                    "shell characters in the prefix",
                    BASE.replace("bluegreen:prefix: dev-", 'bluegreen:prefix: "dev;rm -rf"'),
                    /bluegreen:prefix: expected up to 30 lowercase/,
                ],
                ["colliding ports", BASE.replace("hostPort: 18120", "hostPort: 18130"), /hostPort \(blue\): port 18130 is already used by/],
                ["an unknown color", BASE.replace("bluegreen:active: blue", "bluegreen:active: red"), /bluegreen:active: expected blue or green/],
                ["a negative window", `${BASE}  bluegreen:canary:\n    windowSeconds: -5\n`, /bluegreen:canary\.windowSeconds: expected at least 1 second/],
                ["a route with a space", BASE.replace("route: /api", 'route: "/a pi"'), /bluegreen:components\.backend\.route: expected an absolute URL path/],
                ["bad YAML", BASE.replace("  bluegreen:active: blue", "  bluegreen:active: [blue"), /stack\.yaml is not valid YAML: .*line \d+/],
            ];
            for (const [what, text, problem] of cases) {
                it(what, () => {
                    dir = makeTmp("bluegreen-cli-");
                    const file = path.join(dir, "stack.yaml");
                    fs.writeFileSync(file, text);
                    assert.notEqual(text, BASE);
                    const r = runCli(["preview", "--stack", "xf-bad", "--config-file", file], {
                        PULUMI_BACKEND_URL: `file://${dir}/state`,
                        PULUMI_CONFIG_PASSPHRASE: "",
                    });
                    assert.equal(r.code, 2, shown(r));
                    assert.match(r.stderr, problem);
                    assert.match(r.stderr, /^error: /m);
                    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack frames");
                    assert.doesNotMatch(r.stderr, /Node\.js v\d+|UnhandledPromiseRejection|throw new/, "no uncaught-exception report");
                    assert.equal(fs.existsSync(path.join(dir, "state")), false, "nothing was written");
                });
            }
        });
    });
});
