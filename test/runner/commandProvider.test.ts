import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { commandProvider } from "../../runner/commandProvider";
import { captureStderr, makeTmp, removeTmp } from "../helpers/tmp";

// The provider's methods are optional in the ResourceProvider type; these are all defined.
const p = commandProvider as Required<typeof commandProvider>;

type Outs = Record<string, unknown> & { stdout: string; stderr: string };

async function create(inputs: Record<string, unknown>): Promise<{ id: string; outs: Outs; echoed: string }> {
    const { result, stderr } = await captureStderr(() => p.create(inputs));
    return { id: result.id, outs: result.outs as Outs, echoed: stderr };
}

async function update(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<Outs> {
    const { result } = await captureStderr(() => p.update("id", olds, news));
    return result.outs as Outs;
}

describe("runner/commandProvider", () => {
    let dir: string;
    beforeEach(() => {
        dir = makeTmp("bluegreen-command-");
    });
    afterEach(() => removeTmp(dir));

    describe("create", () => {
        it("runs the command with /bin/sh -c, returns its output and a random hex id, and echoes it to stderr", async () => {
            const inputs = { create: "echo out-line; echo err-line >&2; echo $((6 * 7))" };
            const one = await create(inputs);
            assert.match(one.id, /^[0-9a-f]{16}$/);
            assert.deepEqual(one.outs, { ...inputs, stdout: "out-line\n42", stderr: "err-line" });
            assert.equal(one.echoed.split("\n").filter(Boolean).sort().join("\n"), ["  | 42", "  | err-line", "  | out-line"].join("\n"));
            const two = await create(inputs);
            assert.notEqual(two.id, one.id);
        });

        it("uses a custom interpreter: /usr/bin/env runs an executable path as one argument", async () => {
            // A space in the path: `/bin/sh -c` would split it, env runs it as one file.
            fs.mkdirSync(path.join(dir, "my scripts"));
            const script = path.join(dir, "my scripts", "hello");
            fs.writeFileSync(script, '#!/bin/sh\necho "hello from $0"\n', { mode: 0o755 });
            const { outs } = await create({ create: script, interpreter: ["/usr/bin/env"] });
            assert.equal(outs.stdout, `hello from ${script}`);

            // Without the interpreter the shell would expand $HOME; /bin/echo prints it as is.
            const echo = await create({ create: "$HOME; not-a-command", interpreter: ["/bin/echo"] });
            assert.equal(echo.outs.stdout, "$HOME; not-a-command");
        });

        it("falls back to /bin/sh -c for an empty interpreter list", async () => {
            const { outs } = await create({ create: "echo a && echo b", interpreter: [] });
            assert.equal(outs.stdout, "a\nb");
        });

        it("passes environment, stdin and dir", async () => {
            const { outs } = await create({
                create: 'printf "%s|%s|" "$GREETING" "$(pwd)"; cat; test -n "$PATH" && printf "|path"',
                environment: { GREETING: "hej där" },
                stdin: "line1\nline2",
                dir,
            });
            assert.equal(outs.stdout, `hej där|${fs.realpathSync(dir)}|line1\nline2|path`);
        });

        it("throws on a non-zero exit with the exit code and stderr", async () => {
            const marker = path.join(dir, "ran");
            await assert.rejects(
                captureStderr(() => p.create({ create: `touch '${marker}'; echo partial output; echo "it broke: disk full" >&2; exit 3` })),
                (e: Error) => e.message === "command exited 3: it broke: disk full",
            );
            assert.ok(fs.existsSync(marker));
            await assert.rejects(captureStderr(() => p.create({ create: "echo only-stdout; exit 1" })), (e: Error) => e.message === "command exited 1: only-stdout");
        });

        it("does nothing without a create command", async () => {
            const { outs, echoed } = await create({ delete: "echo never" });
            assert.deepEqual(outs, { delete: "echo never", stdout: "", stderr: "" });
            assert.equal(echoed, "");
        });
    });

    describe("update", () => {
        const olds = { create: "echo first", stdout: "first", stderr: "first-err" };

        it("runs `update` with the previous run's output in PULUMI_COMMAND_STDOUT/STDERR", async () => {
            const news = { create: "echo first", update: 'printf "%s/%s/updated" "$PULUMI_COMMAND_STDOUT" "$PULUMI_COMMAND_STDERR"' };
            assert.deepEqual(await update(olds, news), { ...news, stdout: "first/first-err/updated", stderr: "" });
        });

        it("falls back to `create` when there is no `update`", async () => {
            const news = { create: 'printf "created again after %s" "$PULUMI_COMMAND_STDOUT"' };
            assert.equal((await update(olds, news)).stdout, "created again after first");
        });

        it("leaves out the previous output when addPreviousOutputInEnv is false", async () => {
            const news = { create: 'printf "%s" "${PULUMI_COMMAND_STDOUT-unset}"', addPreviousOutputInEnv: false };
            assert.equal((await update({ ...olds, addPreviousOutputInEnv: false }, news)).stdout, "unset");
        });

        it("keeps the old output when there is no command to run", async () => {
            assert.deepEqual(await update(olds, { delete: "true" }), { delete: "true", stdout: "first", stderr: "first-err" });
        });

        it("throws when the command fails", async () => {
            await assert.rejects(captureStderr(() => p.update("id", olds, { create: "echo nope >&2; exit 5" })), /^Error: command exited 5: nope$/);
        });
    });

    describe("delete", () => {
        it("runs `delete` with the last output in PULUMI_COMMAND_STDOUT", async () => {
            const file = path.join(dir, "deleted");
            const props = { create: "echo x", delete: `printf "deleting %s" "$PULUMI_COMMAND_STDOUT" > '${file}'`, stdout: "the-output", stderr: "" };
            await captureStderr(() => p.delete("id", props));
            assert.equal(fs.readFileSync(file, "utf8"), "deleting the-output");
        });

        it("does nothing without a delete command, and throws when it fails", async () => {
            await p.delete("id", { create: "echo x", stdout: "", stderr: "" });
            await assert.rejects(captureStderr(() => p.delete("id", { delete: "exit 9", stdout: "", stderr: "" })), /command exited 9/);
        });
    });

    describe("diff", () => {
        const olds = { create: "echo a", delete: "echo d", triggers: ["r1"], environment: { A: "1" }, stdout: "a", stderr: "" };

        it("replaces on a change of triggers", async () => {
            assert.deepEqual(await p.diff("id", olds, { create: "echo a", delete: "echo d", triggers: ["r2"], environment: { A: "1" } }), {
                changes: true,
                replaces: ["triggers"],
            });
        });

        it("updates in place on any other input change", async () => {
            const base = { create: "echo a", delete: "echo d", triggers: ["r1"], environment: { A: "1" } };
            for (const change of [{ create: "echo b" }, { environment: { A: "2" } }, { stdin: "in" }, { dir: "/tmp" }, { update: "echo u" }, { interpreter: ["/bin/bash", "-c"] }]) {
                assert.deepEqual(await p.diff("id", olds, { ...base, ...change }), { changes: true, replaces: [] }, JSON.stringify(change));
            }
        });

        it("reports no change when only outputs differ", async () => {
            assert.deepEqual(await p.diff("id", olds, { create: "echo a", delete: "echo d", triggers: ["r1"], environment: { A: "1" } }), { changes: false, replaces: [] });
        });
    });

    describe("check and read", () => {
        it("check accepts the new inputs as they are", async () => {
            assert.deepEqual(await p.check({}, { create: "x" }), { inputs: { create: "x" } });
        });

        it("read returns the props, and the inputs without stdout/stderr", async () => {
            const props = { create: "echo a", stdout: "a", stderr: "e" };
            assert.deepEqual(await p.read("the-id", props), { id: "the-id", props, inputs: { create: "echo a" } });
        });
    });
});
