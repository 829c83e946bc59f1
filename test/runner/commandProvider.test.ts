// runner/commandProvider.ts against @pulumi/command 1.2.1's local.Command (commandController.go,
// commandOutputs.go; infer's default diff). Real /bin/sh processes in a temp dir.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { commandDiff, commandProvider, commandSpec } from "../../runner/commandProvider";
import { ProviderError } from "../../runner/host";
import { makeTmp, removeTmp } from "../helpers/tmp";

const URN = "urn:pulumi:dev::demo::command:local:Command::cmd";
type Outs = Record<string, unknown> & { stdout: string; stderr: string };

describe("runner/commandProvider (local.Command of @pulumi/command 1.2.1)", () => {
    let dir: string;
    let logged: string[];
    let p: ReturnType<typeof commandProvider>;
    beforeEach(() => {
        dir = makeTmp("bluegreen-command-");
        logged = [];
        p = commandProvider((l) => logged.push(l));
    });
    afterEach(() => removeTmp(dir));

    const create = async (inputs: Record<string, unknown>) => {
        const r = await p.create(URN, inputs, 0);
        return { id: r.id, outs: r.properties as Outs };
    };
    const update = async (olds: Record<string, unknown>, news: Record<string, unknown>) =>
        (await p.update(URN, "id", olds, news, {}, [], 0)).properties as Outs;

    describe("create", () => {
        it("runs the command with /bin/sh -c; outputs are the inputs plus stdout and stderr (one newline trimmed); the id is the name and 8 hex digits", async () => {
            const inputs = { create: "echo out-line; echo err-line >&2; echo $((6 * 7))" };
            const one = await create(inputs);
            assert.match(one.id, /^cmd[0-9a-f]{8}$/);
            assert.deepEqual(one.outs, { ...inputs, stdout: "out-line\n42", stderr: "err-line" });
            assert.deepEqual([...logged].sort(), ["42", "err-line", "out-line"]);
            assert.notEqual((await create(inputs)).id, one.id);
        });

        it("logs only what `logging` asks for, and still returns both", async () => {
            const r = await create({ create: "echo o; echo e >&2", logging: "stderr" });
            assert.deepEqual(logged, ["e"]);
            assert.equal(r.outs.stdout, "o");
            logged.length = 0;
            await create({ create: "echo o; echo e >&2", logging: "none" });
            assert.deepEqual(logged, []);
        });

        it("uses a custom interpreter; an empty list means /bin/sh -c", async () => {
            fs.mkdirSync(path.join(dir, "my scripts"));
            const script = path.join(dir, "my scripts", "hello");
            fs.writeFileSync(script, '#!/bin/sh\necho "hello from $0"\n', { mode: 0o755 });
            assert.equal((await create({ create: script, interpreter: ["/usr/bin/env"] })).outs.stdout, `hello from ${script}`);
            assert.equal((await create({ create: "$HOME; x", interpreter: ["/bin/echo"] })).outs.stdout, "$HOME; x");
            assert.equal((await create({ create: "echo a && echo b", interpreter: [] })).outs.stdout, "a\nb");
        });

        it("passes environment (on top of this process's), stdin and dir; no PULUMI_COMMAND_STDOUT on create", async () => {
            const { outs } = await create({
                create: 'printf "%s|%s|%s|" "$GREETING" "$(pwd)" "${PULUMI_COMMAND_STDOUT-unset}"; cat; test -n "$PATH" && printf "|path"',
                environment: { GREETING: "hej där" },
                stdin: "line1\nline2",
                dir,
            });
            assert.equal(outs.stdout, `hej där|${fs.realpathSync(dir)}|unset|line1\nline2|path`);
        });

        it("fails as the provider does: exit status, the command quoted, then the output; a plain failure (nothing kept)", async () => {
            const marker = path.join(dir, "ran");
            await assert.rejects(p.create(URN, { create: `touch '${marker}'; echo partial; echo "it broke" >&2; exit 3` }, 0), (e: Error) => {
                assert.ok(e instanceof ProviderError);
                assert.equal(e.initFailure, undefined);
                assert.equal(
                    e.message,
                    `exit status 3: running ${JSON.stringify(`touch '${marker}'; echo partial; echo "it broke" >&2; exit 3`)}:\npartial\nit broke\n`,
                );
                return true;
            });
            assert.ok(fs.existsSync(marker));
        });

        it("without a create command runs nothing and outputs empty stdout and stderr", async () => {
            const { outs } = await create({ delete: "echo never" });
            assert.deepEqual(outs, { delete: "echo never", stdout: "", stderr: "" });
            assert.deepEqual(logged, []);
        });
    });

    describe("update", () => {
        const olds = { create: "echo first", stdout: "first", stderr: "first-err" };

        it("runs `update` with the previous outputs in PULUMI_COMMAND_STDOUT/STDERR", async () => {
            const news = { create: "echo first", update: 'printf "%s/%s/updated" "$PULUMI_COMMAND_STDOUT" "$PULUMI_COMMAND_STDERR"' };
            assert.deepEqual(await update(olds, news), { ...news, stdout: "first/first-err/updated", stderr: "" });
        });

        it("falls back to `create`; an empty previous output sets no variable", async () => {
            assert.equal((await update(olds, { create: 'printf "again after %s" "$PULUMI_COMMAND_STDOUT"' })).stdout, "again after first");
            assert.equal((await update({ stdout: "", stderr: "" }, { create: 'printf "%s" "${PULUMI_COMMAND_STDOUT-unset}"' })).stdout, "unset");
        });

        it("leaves out the previous output when the new inputs say addPreviousOutputInEnv: false", async () => {
            assert.equal((await update(olds, { create: 'printf "%s" "${PULUMI_COMMAND_STDOUT-unset}"', addPreviousOutputInEnv: false })).stdout, "unset");
        });

        it("keeps the old stdout and stderr when there is no command; outputs take the new inputs", async () => {
            assert.deepEqual(await update({ ...olds, environment: { A: "1" } }, { delete: "true" }), { delete: "true", stdout: "first", stderr: "first-err" });
        });

        it("throws when the command fails", async () => {
            await assert.rejects(
                p.update(URN, "id", olds, { create: "echo nope >&2; exit 5" }, {}, [], 0),
                /^ProviderError: exit status 5: running "echo nope >&2; exit 5":\nnope\n$/,
            );
        });
    });

    describe("delete", () => {
        it("runs the old `delete` in the old dir and environment, with the last output", async () => {
            const file = path.join(dir, "deleted");
            const props = {
                create: "echo x",
                delete: `printf "deleting %s as %s in %s" "$PULUMI_COMMAND_STDOUT" "$WHO" "$(pwd)" > '${file}'`,
                environment: { WHO: "me" },
                dir,
                stdout: "the-output",
                stderr: "",
            };
            await p.delete(URN, "id", props, {}, 0);
            assert.equal(fs.readFileSync(file, "utf8"), `deleting the-output as me in ${fs.realpathSync(dir)}`);
        });

        it("does nothing without a delete command, and throws when it fails", async () => {
            await p.delete(URN, "id", { create: "echo x", stdout: "", stderr: "" }, {}, 0);
            await assert.rejects(p.delete(URN, "id", { delete: "exit 9", stdout: "", stderr: "" }, {}, 0), /exit status 9/);
        });
    });

    describe("diff (old inputs against new inputs)", () => {
        const olds = { create: "echo a", delete: "echo d", triggers: ["r1"], environment: { A: "1" } };

        it("replaces on a change of triggers, creating the replacement first", () => {
            assert.deepEqual(commandDiff(olds, { ...olds, triggers: ["r2"] }), {
                changes: "some",
                replaces: ["triggers"],
                deleteBeforeReplace: false,
                changedKeys: ["triggers"],
            });
        });

        it("updates in place on any other input change, the schema's optional inputs included", () => {
            for (const change of [
                { create: "echo b" },
                { environment: { A: "2" } },
                { stdin: "in" },
                { dir: "/tmp" },
                { update: "echo u" },
                { interpreter: ["/bin/bash", "-c"] },
                { logging: "none" },
                { addPreviousOutputInEnv: false },
            ]) {
                const d = commandDiff(olds, { ...olds, ...change });
                assert.equal(d.changes, "some", JSON.stringify(change));
                assert.deepEqual(d.replaces, [], JSON.stringify(change));
            }
        });

        it("sees no change when only outputs or engine-internal keys differ", () => {
            assert.deepEqual(commandDiff(olds, { ...olds, __provider: "x" }).changes, "none");
        });
    });

    describe("check, read and the command spec", () => {
        it("check refuses a bad logging value and the asset inputs the runner does not collect", async () => {
            const r = await p.check(URN, {}, { create: "x", logging: "loud", assetPaths: ["*"] });
            assert.deepEqual(
                r.failures.map((f) => f.property),
                ["logging", "assetPaths"],
            );
        });

        it("read returns the state and inputs as they are", async () => {
            const props = { create: "echo a", stdout: "a", stderr: "e" };
            assert.deepEqual(await p.read(URN, "the-id", props, { create: "echo a" }), { id: "the-id", properties: props, inputs: { create: "echo a" } });
        });

        it("commandSpec: argv and environment of one run", () => {
            assert.deepEqual(commandSpec("echo hi", { environment: { A: "1" } }, { stdout: "o", stderr: "" }), {
                argv: ["/bin/sh", "-c", "echo hi"],
                env: { A: "1", PULUMI_COMMAND_STDOUT: "o" },
            });
        });
    });
});
