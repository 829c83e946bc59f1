import assert from "node:assert/strict";
import { runLive } from "../../components/io/exec";
import { operatorExecCmd } from "../../components/io/incus";
import { DEFAULT_EXEC_TIMEOUT_S, DEFAULT_LINES, LinePrefixer, cursorAt, lastLines, linePrefix, newLines, parseAppArgs, selectContainers } from "../../ops/app";
import { stackConfig } from "../helpers/stackConfig";

const parse = (...argv: string[]) => parseAppArgs(["app", ...argv], "/p");

describe("ops/app", () => {
    describe("parseAppArgs", () => {
        it("app exec: the selection, then the user's argv after -- exactly as given", () => {
            const a = parse(
                "exec",
                "--stack",
                "prod",
                "--component",
                "backend",
                "--color",
                "green",
                "--node",
                "2",
                "--",
                "sh",
                "-c",
                "echo $HOME; exit 3",
                "--stack",
            );
            assert.deepEqual(a, {
                verb: "exec",
                cwd: "/p",
                stack: "prod",
                component: "backend",
                color: "green",
                node: 2,
                interactive: false,
                follow: false,
                timeoutS: DEFAULT_EXEC_TIMEOUT_S,
                lines: DEFAULT_LINES,
                command: ["sh", "-c", "echo $HOME; exit 3", "--stack"],
            });
            const i = parse("exec", "-s", "dev", "--service", "db", "-i", "--timeout", "60", "--config-file", "f.yaml", "--cwd", "/q", "--", "psql");
            assert.equal(i.service, "db");
            assert.equal(i.interactive, true);
            assert.equal(i.timeoutS, 60);
            assert.equal(i.configFile, "f.yaml");
            assert.equal(i.cwd, "/q");
            assert.deepEqual(i.command, ["psql"]);
        });

        it("app logs: -n and -f, everything else optional", () => {
            const a = parse("logs", "--stack", "dev", "-n", "5", "-f");
            assert.equal(a.verb, "logs");
            assert.equal(a.lines, 5);
            assert.equal(a.follow, true);
            assert.equal(a.component, undefined);
            assert.equal(parse("logs", "--stack", "dev", "--lines", "0").lines, 0);
            assert.equal(parse("logs", "--stack", "dev").lines, DEFAULT_LINES);
        });

        it("refuses what cannot be meant, naming the fix", () => {
            const cases: [string[], RegExp][] = [
                [["run", "--stack", "dev"], /app: expected exec or logs, got run/],
                [["exec", "--component", "web", "--", "ls"], /--stack <name> is required/],
                [["exec", "--stack", "dev", "--", "ls"], /app exec: name the container's --component \(or --service\)/],
                [["exec", "--stack", "dev", "--component", "web"], /app exec: no command: give it after --/],
                [["exec", "--stack", "dev", "--component", "web", "ls"], /unexpected ls: put the command after --/],
                [["exec", "--stack", "dev", "--component", "web", "--service", "db", "--", "ls"], /--component or --service, not both/],
                [["exec", "--stack", "dev", "--service", "db", "--color", "blue", "--", "ls"], /a stateful service has one container/],
                [["exec", "--stack", "dev", "--component", "web", "--color", "red", "--", "ls"], /--color expects blue or green, got red/],
                [["exec", "--stack", "dev", "--component", "web", "--node", "0", "--", "ls"], /--node expects a whole number of at least 1, got 0/],
                [["exec", "--stack", "dev", "--component", "web", "-f", "--", "ls"], /app exec: unknown option -f/],
                [["logs", "--stack", "dev", "--interactive"], /app logs: unknown option --interactive/],
                [["logs", "--stack", "dev", "--node", "2"], /--node needs --component/],
                [["logs", "--stack", "dev", "-n", "x"], /-n expects a whole number, got x/],
                [["logs", "--stack", "dev", "--", "ls"], /app logs takes no command after --/],
                [["logs", "--stack"], /--stack needs a value/],
            ];
            for (const [argv, message] of cases) assert.throws(() => parse(...argv), message, argv.join(" "));
        });
    });

    describe("selectContainers", () => {
        const config = stackConfig(
            {
                colors: { blue: { release: "abc1234" }, green: { release: "def5678" } },
                components: { web: { hostPort: 18130, route: "/", nodes: 2 }, backend: { hostPort: 18110, route: "/api" } },
                stateful: { db: { release: "1a1a1a1", hostPort: 18150, volumes: { data: "/var/lib/data" } } },
                prefix: "prod-",
            },
            "prod",
        );

        it("a pool's nodes, a pool of one, every component, a service", () => {
            assert.deepEqual(selectContainers(config, { component: "web" }, "green"), ["prod-web-green-1", "prod-web-green-2"]);
            assert.deepEqual(selectContainers(config, { component: "web", node: 2 }, "blue"), ["prod-web-blue-2"]);
            assert.deepEqual(selectContainers(config, { component: "backend" }, "blue"), ["prod-backend-blue"]);
            assert.deepEqual(selectContainers(config, {}, "blue"), ["prod-backend-blue", "prod-web-blue-1", "prod-web-blue-2"]);
            assert.deepEqual(selectContainers(config, { service: "db" }, undefined), ["prod-db"]);
        });

        it("refuses names and nodes the config does not have, and a color it does not deploy", () => {
            assert.throws(
                () => selectContainers(config, { component: "api" }, "blue"),
                /stack prod has no component api \(bluegreen:components: backend, web\)/,
            );
            assert.throws(
                () => selectContainers(config, { service: "cache" }, undefined),
                /stack prod has no stateful service cache \(bluegreen:stateful: db\)/,
            );
            assert.throws(() => selectContainers(config, { component: "web", node: 3 }, "blue"), /component web has nodes 1 to 2; --node 3 is not one of them/);
            assert.throws(
                () => selectContainers(config, { component: "backend", node: 1 }, "blue"),
                /backend is a pool of one \(prod-backend-blue\): leave out --node/,
            );
            const one = stackConfig({}, "dev");
            assert.throws(
                () => selectContainers(one, { component: "web" }, "green"),
                /color green is not in bluegreen:colors of stack dev, so it has no containers\. Give --color blue\. Nothing was run\./,
            );
        });
    });

    describe("operatorExecCmd", () => {
        it("the user's argv after --, no shell, over the remote when there is one", () => {
            assert.deepEqual(operatorExecCmd({}, "dev-web-blue", ["sh", "-c", "a; b"], { interactive: false, timeoutMs: 5000 }), {
                argv: ["incus", "exec", "dev-web-blue", "--mode", "non-interactive", "--", "sh", "-c", "a; b"],
                timeoutMs: 5000,
            });
            assert.deepEqual(operatorExecCmd({ remote: "ci" }, "prod-db", ["psql"], { interactive: true, timeoutMs: 1000 }).argv, [
                "incus",
                "exec",
                "ci:prod-db",
                "--mode",
                "interactive",
                "--",
                "psql",
            ]);
        });
    });

    describe("output", () => {
        it("prefixes whole lines only, across chunks, and the unterminated rest at the end", () => {
            const p = new LinePrefixer("[a] ");
            assert.equal(p.push("one\ntw"), "[a] one\n");
            assert.equal(p.push("o\n\nthr"), "[a] two\n[a] \n");
            assert.equal(p.end(), "[a] thr\n");
            assert.equal(p.end(), "");
            const bare = new LinePrefixer("");
            assert.equal(bare.push("x"), "x");
            assert.equal(bare.end(), "");
            assert.equal(linePrefix("c1", 1), "");
            assert.equal(linePrefix("c1", 2), "[c1] ");
        });

        it("lastLines: the last n, a final line without newline counted", () => {
            assert.deepEqual(lastLines("a\nb\nc\n", 2), ["b", "c"]);
            assert.deepEqual(lastLines("a\nb\nc", 2), ["b", "c"]);
            assert.deepEqual(lastLines("a\n", 5), ["a"]);
            assert.deepEqual(lastLines("a\nb\n", 0), []);
            assert.deepEqual(lastLines("", 3), []);
        });

        it("newLines: what a growing log added, whole lines only; a replaced or truncated log from its start", () => {
            const c0 = cursorAt("a\nb\npart");
            assert.deepEqual(c0.offset, 4);
            const grew = newLines(c0, "a\nb\npartial\nc\nd");
            assert.deepEqual(grew.lines, ["partial", "c"]);
            assert.equal(grew.restarted, false);
            assert.deepEqual(newLines(grew.next, "a\nb\npartial\nc\nd"), { lines: [], next: grew.next, restarted: false });
            const truncated = newLines(grew.next, "x\n");
            assert.deepEqual(truncated.lines, ["x"]);
            assert.equal(truncated.restarted, true);
            const replaced = newLines(grew.next, "n\no\np\nq\nr\ns\nt\n");
            assert.deepEqual(replaced.lines, ["n", "o", "p", "q", "r", "s", "t"]);
            assert.equal(replaced.restarted, true);
            assert.deepEqual(newLines({ offset: 0, mark: "" }, "first\n").lines, ["first"]);
        });
    });

    describe("runLive (components/io/exec.ts)", () => {
        it("hands over each stream as it comes, and the exit code; no shell in between", async () => {
            const out: string[] = [];
            const err: string[] = [];
            const r = await runLive(
                { argv: ["/bin/sh", "-c", 'echo "$1"; echo e >&2; exit 4', "sh", "$HOME `id`"] },
                { onStdout: (b) => out.push(b.toString()), onStderr: (b) => err.push(b.toString()) },
            );
            assert.deepEqual(r, { code: 4 });
            assert.equal(out.join(""), "$HOME `id`\n");
            assert.equal(err.join(""), "e\n");
        });

        it("kills what outlives timeoutMs, and says a binary is missing", async () => {
            assert.deepEqual(await runLive({ argv: ["sleep", "5"], timeoutMs: 200 }), { code: 128, timedOut: true });
            const err: string[] = [];
            assert.equal((await runLive({ argv: ["no-such-binary-bluegreen"] }, { onStderr: (b) => err.push(b.toString()) })).code, 127);
            assert.match(err.join(""), /is no-such-binary-bluegreen installed\?/);
        });
    });
});
