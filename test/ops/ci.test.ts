// The workflows in .forgejo/workflows and the scripts they call. The workflows parse,
// name only scripts that exist, and the scripts do what the workflows rely on.

import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { makeTmp, removeTmp } from "../helpers/tmp";

const ROOT = path.resolve(__dirname, "../..");
const WORKFLOWS = path.join(ROOT, ".forgejo/workflows");

function sh(cwd: string, argv: string[], env: Record<string, string> = {}) {
    const r = spawnSync(argv[0], argv.slice(1), { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function git(cwd: string, ...args: string[]) {
    const r = sh(cwd, ["git", "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
}

/** A directory on PATH whose fake `name` prints its argv, so a test sees what a script ran. */
function fakeBin(dir: string, name: string): string {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho "${name} $*"\n`, { mode: 0o755 });
    return dir;
}

describe("CI workflows and their scripts", function () {
    this.timeout(120_000);
    let tmp: string | undefined;
    afterEach(() => {
        removeTmp(tmp);
        tmp = undefined;
    });

    const files = fs.readdirSync(WORKFLOWS).filter((f) => f.endsWith(".yml"));

    it("ships preview, up, rollback and cleanup", () => {
        assert.deepEqual(files.sort(), ["cleanup.yml", "preview.yml", "rollback.yml", "up.yml"]);
    });

    for (const file of files) {
        it(`${file} parses and calls only scripts that exist`, () => {
            const doc = YAML.parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"));
            assert.equal(typeof doc.name, "string");
            assert.ok(doc.on && typeof doc.on === "object", "has triggers");
            const steps = Object.values<any>(doc.jobs).flatMap((j) => j.steps);
            assert.ok(steps.length > 0);
            const scripts = steps.flatMap((s: any) => String(s.run ?? "").match(/scripts\/[\w./-]+\.sh/g) ?? []);
            assert.ok(scripts.length > 0, "calls the project's scripts");
            for (const s of scripts) {
                const p = path.join(ROOT, s);
                assert.ok(fs.existsSync(p), `${s} exists`);
                assert.ok(fs.statSync(p).mode & 0o100, `${s} is executable`);
            }
        });
    }

    /** The PULUMI_BACKEND_URL a workflow's step runs with: the step's own, its job's, or the workflow's. */
    function backendOf(doc: any, job: any, step: any): unknown {
        return step.env?.PULUMI_BACKEND_URL ?? job.env?.PULUMI_BACKEND_URL ?? doc.env?.PULUMI_BACKEND_URL;
    }

    /** Outside the checkout, which actions/checkout cleans: an absolute file:// path, or a remote backend. */
    const PERSISTENT = /^(file:\/\/\/(?!tmp\/)[^$]+|s3:\/\/\S+|gs:\/\/\S+|azblob:\/\/\S+|https:\/\/\S+)$/;

    for (const file of files) {
        it(`${file} keeps the stack's state outside the checkout: a persistent PULUMI_BACKEND_URL for every up and preview`, () => {
            const doc = YAML.parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"));
            let checked = 0;
            for (const job of Object.values<any>(doc.jobs)) {
                for (const step of job.steps) {
                    if (!/scripts\/ci\/(up|preview)\.sh/.test(String(step.run ?? ""))) continue;
                    const url = backendOf(doc, job, step);
                    assert.equal(
                        typeof url,
                        "string",
                        `${file}: step "${step.name ?? step.run}" runs without PULUMI_BACKEND_URL: its state would be the checkout's .state`,
                    );
                    assert.match(url as string, PERSISTENT, `${file}: ${url} is not persistent`);
                    checked++;
                }
            }
            assert.ok(checked > 0, `${file} runs up.sh or preview.sh`);
        });
    }

    it("up.sh and preview.sh refuse to run without a persistent backend, before Pulumi or the runner runs", () => {
        tmp = makeTmp();
        const bin = fakeBin(path.join(tmp, "bin"), "pulumi");
        for (const script of ["up.sh", "preview.sh"]) {
            for (const url of [undefined, "", "file://./.state", "file://.state", `file://${ROOT}/.state`, `file://${ROOT}/x/../.state`]) {
                const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH}` };
                const r = spawnSync(path.join(ROOT, "scripts/ci", script), ["staging"], {
                    cwd: ROOT,
                    encoding: "utf8",
                    env: {
                        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "PULUMI_BACKEND_URL")),
                        ...env,
                        ...(url === undefined ? {} : { PULUMI_BACKEND_URL: url }),
                    },
                });
                assert.equal(r.status, 2, `${script} with ${url}: ${r.stdout}${r.stderr}`);
                assert.match(r.stderr, /PULUMI_BACKEND_URL/);
                assert.doesNotMatch(r.stdout, /pulumi (up|preview)/, "nothing ran");
            }
        }
    });

    it("the dispatch workflows take stack and color as inputs", () => {
        for (const f of ["rollback.yml", "cleanup.yml"]) {
            const inputs = YAML.parse(fs.readFileSync(path.join(WORKFLOWS, f), "utf8")).on.workflow_dispatch.inputs;
            assert.deepEqual(Object.keys(inputs).sort(), ["color", "stack"], f);
            assert.deepEqual(inputs.color.options, ["blue", "green"]);
        }
    });

    it("every script is valid bash", () => {
        for (const f of fs.readdirSync(path.join(ROOT, "scripts/ci"))) {
            const r = sh(ROOT, ["bash", "-n", path.join(ROOT, "scripts/ci", f)]);
            assert.equal(r.code, 0, `${f}: ${r.stderr}`);
        }
    });

    it("changed-stacks.sh lists the stacks whose config changed", () => {
        tmp = makeTmp();
        git(tmp, "init", "-q");
        for (const s of ["dev", "staging", "prod"]) fs.writeFileSync(path.join(tmp, `Pulumi.${s}.yaml`), "config: {}\n");
        fs.writeFileSync(path.join(tmp, "README.md"), "x\n");
        git(tmp, "add", ".");
        git(tmp, "commit", "-qm", "base");
        fs.writeFileSync(path.join(tmp, "Pulumi.staging.yaml"), "config: { a: 1 }\n");
        fs.writeFileSync(path.join(tmp, "Pulumi.prod.yaml"), "config: { a: 1 }\n");
        fs.writeFileSync(path.join(tmp, "README.md"), "y\n");
        git(tmp, "commit", "-qam", "change");
        const r = sh(tmp, [path.join(ROOT, "scripts/ci/changed-stacks.sh"), "HEAD~1", "HEAD"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "prod\nstaging\n");
    });

    it("up.sh and preview.sh use the Pulumi CLI when there is one", () => {
        tmp = makeTmp();
        const bin = fakeBin(path.join(tmp, "bin"), "pulumi");
        const env = { PATH: `${bin}:${process.env.PATH}`, PULUMI_BACKEND_URL: `file://${tmp}/state` };
        assert.equal(sh(ROOT, ["scripts/ci/up.sh", "staging"], env).stdout, "pulumi up --stack staging --non-interactive --yes\n");
        const p = sh(ROOT, ["scripts/ci/preview.sh", "staging"], env);
        assert.match(p.stdout, /^### `pulumi preview` of stack `staging`\n\n```diff\npulumi preview --stack staging --diff --non-interactive\n```\n$/);
    });

    it("up.sh and preview.sh use the offline runner otherwise", () => {
        tmp = makeTmp();
        const bin = fakeBin(path.join(tmp, "bin"), "npm");
        // A PATH without any pulumi: this fake npm, then the system's tools.
        const env = { PATH: `${bin}:/usr/bin:/bin`, PULUMI_BACKEND_URL: `file://${tmp}/state` };
        assert.equal(sh(ROOT, ["scripts/ci/up.sh", "dev"], env).stdout, "npm run --silent local -- up --stack dev --yes\n");
        assert.equal(sh(ROOT, ["scripts/ci/preview.sh", "dev"], env).stdout, "npm run --silent local -- preview --stack dev --markdown\n");
    });

    it("preview.yml runs only for pull requests from this repository, never from forks", () => {
        const doc = YAML.parse(fs.readFileSync(path.join(WORKFLOWS, "preview.yml"), "utf8"));
        assert.deepEqual(Object.keys(doc.on), ["pull_request"], "pull_request_target would hand a fork the secrets");
        for (const [name, job] of Object.entries<any>(doc.jobs)) {
            assert.equal(String(job.if ?? "").replace(/\s+/g, " "), "github.event.pull_request.head.repo.full_name == github.repository", name);
        }
    });

    it("preview.sh refuses to run for a pull request from a fork, before any preview", () => {
        tmp = makeTmp();
        const bin = fakeBin(path.join(tmp, "bin"), "npm");
        const event = (head: string) => {
            const file = path.join(tmp!, `event-${head.replace("/", "-")}.json`);
            fs.writeFileSync(
                file,
                JSON.stringify({ pull_request: { number: 7, head: { repo: { full_name: head } } }, repository: { full_name: "ops/bluegreen" } }),
            );
            return file;
        };
        const env = { PATH: `${bin}:/usr/bin:/bin` };
        const fork = sh(ROOT, ["scripts/ci/preview.sh", "dev"], { ...env, GITHUB_EVENT_PATH: event("mallory/bluegreen") });
        assert.equal(fork.code, 3, fork.stderr);
        assert.match(fork.stderr, /pull request 7 comes from the fork mallory\/bluegreen: previews run only for pull requests from ops\/bluegreen/);
        assert.equal(fork.stdout, "", "nothing ran");
        const same = sh(ROOT, ["scripts/ci/preview.sh", "dev"], {
            ...env,
            GITHUB_EVENT_PATH: event("ops/bluegreen"),
            PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
        });
        assert.equal(same.code, 0, same.stderr);
        assert.equal(same.stdout, "npm run --silent local -- preview --stack dev --markdown\n");
    });

    it("no job needs the incus-host label: every job runs on any runner labelled incus-client", () => {
        for (const file of files) {
            const doc = YAML.parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"));
            for (const [name, job] of Object.entries<any>(doc.jobs)) assert.equal(job["runs-on"], "incus-client", `${file}: ${name}`);
            assert.doesNotMatch(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"), /incus-host/, file);
        }
    });

    it("every job checks the incus client and the stack's remote (check-incus.sh) in a step before its first up or preview", () => {
        for (const file of files) {
            const doc = YAML.parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"));
            for (const [name, job] of Object.entries<any>(doc.jobs)) {
                const runs = job.steps.map((st: any) => String(st.run ?? ""));
                const check = runs.findIndex((r: string) => /scripts\/ci\/check-incus\.sh/.test(r));
                const first = runs.findIndex((r: string) => /scripts\/ci\/(up|preview)\.sh/.test(r));
                assert.ok(check >= 0 && check < first, `${file}: ${name} checks before step ${first}`);
            }
        }
    });

    describe("check-incus.sh", () => {
        /** A fake `incus` that logs its argv and answers `query` with `answer` (exit `code`). */
        function fakeIncus(dir: string, answer: string, code = 0): string {
            fs.mkdirSync(dir, { recursive: true });
            fs.writeFileSync(path.join(dir, "incus"), `#!/bin/sh\necho "incus $*" >>"${dir}/log"\necho '${answer}'\nexit ${code}\n`, { mode: 0o755 });
            return dir;
        }
        function stackFile(dir: string, config: Record<string, unknown>): string {
            const file = path.join(dir, "Pulumi.t.yaml");
            fs.writeFileSync(file, YAML.stringify({ config }));
            return file;
        }
        const check = (env: Record<string, string>) => sh(ROOT, ["scripts/ci/check-incus.sh", "t"], env);
        const log = (bin: string) => (fs.existsSync(path.join(bin, "log")) ? fs.readFileSync(path.join(bin, "log"), "utf8") : "");

        it("refuses a runner without the incus client, naming how to get it", () => {
            tmp = makeTmp();
            // A PATH with only what the script needs besides incus (this machine has incus in /usr/bin).
            const bin = path.join(tmp, "bin");
            fs.mkdirSync(bin);
            for (const tool of ["bash", "env", "dirname", "node", "grep"])
                fs.symlinkSync(spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim(), path.join(bin, tool));
            const r = check({ PATH: bin, BLUEGREEN_CONFIG_FILE: stackFile(tmp, { "bluegreen:incus": { remote: "prod" } }) });
            assert.equal(r.code, 2, r.stdout + r.stderr);
            assert.match(r.stderr, /no incus client on this runner.*incus-client/);
        });

        it("asks the stack's remote through the runner's incus config, and refuses a remote it does not know or that does not trust it", () => {
            tmp = makeTmp();
            const cfg = stackFile(tmp, { "bluegreen:incus": { remote: "prod" } });
            const ok = fakeIncus(path.join(tmp, "ok"), '{"auth":"trusted"}');
            const r = check({ PATH: `${ok}:/usr/bin:/bin`, BLUEGREEN_CONFIG_FILE: cfg });
            assert.equal(r.code, 0, r.stderr);
            assert.equal(log(ok), "incus query prod:/1.0\n");
            assert.match(r.stdout, /prod: reachable, this runner trusted/);
            const untrusted = fakeIncus(path.join(tmp, "untrusted"), '{"auth":"untrusted"}');
            const u = check({ PATH: `${untrusted}:/usr/bin:/bin`, BLUEGREEN_CONFIG_FILE: cfg });
            assert.equal(u.code, 2);
            assert.match(u.stderr, /prod does not trust this runner.*incus remote add prod <token>/);
            const unknown = fakeIncus(path.join(tmp, "unknown"), 'Error: The remote "prod" does not exist', 1);
            const n = check({ PATH: `${unknown}:/usr/bin:/bin`, BLUEGREEN_CONFIG_FILE: cfg });
            assert.equal(n.code, 2);
            assert.match(n.stderr, /cannot reach prod.*does not exist.*incus remote add prod <token>.*bluegreen:incus\.clientKey/s);
        });

        it("leaves the remote to the program when the stack's secrets carry the trust (the passphrase decrypts them there), and asks the local daemon without a remote", () => {
            tmp = makeTmp();
            const bin = fakeIncus(path.join(tmp, "bin"), '{"auth":"trusted"}');
            const withTrust = check({
                PATH: `${bin}:/usr/bin:/bin`,
                BLUEGREEN_CONFIG_FILE: stackFile(tmp, { "bluegreen:incus": { remote: "prod" }, "bluegreen:incus.address": "https://10.0.0.2:8443" }),
            });
            assert.equal(withTrust.code, 0, withTrust.stderr);
            assert.match(withTrust.stdout, /prod: trust from the stack's secrets/);
            assert.equal(log(bin), "");
            const local = check({ PATH: `${bin}:/usr/bin:/bin`, BLUEGREEN_CONFIG_FILE: stackFile(tmp, { "bluegreen:active": "blue" }) });
            assert.equal(local.code, 0, local.stderr);
            assert.equal(log(bin), "incus query /1.0\n");
        });
    });

    it("the scripts refuse a stack name that is not one", () => {
        const r = sh(ROOT, ["scripts/ci/up.sh", "../etc"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /invalid stack name/);
    });

    it("operate.sh commits and pushes a fast rollback and a cleanup, and is a no-op when repeated", () => {
        tmp = makeTmp();
        const remote = path.join(tmp, "remote.git");
        const work = path.join(tmp, "work");
        git(tmp, "init", "-q", "--bare", remote);
        fs.mkdirSync(work);
        // The scripts run from their own checkout: copy what operate.sh needs.
        for (const f of ["scripts/ci/operate.sh", "scripts/ci/lib.sh", "ops/stackEdit.ts", "components/model/naming.ts", "tsconfig.json", "package.json"]) {
            fs.mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
            fs.copyFileSync(path.join(ROOT, f), path.join(work, f));
        }
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(work, "node_modules"));
        fs.writeFileSync(
            path.join(work, "Pulumi.staging.yaml"),
            'config:\n  bluegreen:active: green\n  bluegreen:colors:\n    blue:\n      release: "a1b2c3d"\n    green:\n      release: "b4c5d6e"\n',
        );
        fs.writeFileSync(path.join(work, ".gitignore"), "node_modules\n");
        git(work, "init", "-q", "-b", "main");
        git(work, "add", ".");
        git(work, "commit", "-qm", "base");
        git(work, "remote", "add", "origin", remote);
        git(work, "push", "-q", "origin", "main");
        const env = { BLUEGREEN_PERFORMER: "alice" };

        const rb = sh(work, ["scripts/ci/operate.sh", "rollback", "staging", "blue"], env);
        assert.equal(rb.code, 0, rb.stderr);
        assert.match(fs.readFileSync(path.join(work, "Pulumi.staging.yaml"), "utf8"), /bluegreen:active: blue\n/);
        assert.equal(git(remote, "log", "-1", "--format=%s", "main"), "staging: rollback blue (alice)\n");

        const again = sh(work, ["scripts/ci/operate.sh", "rollback", "staging", "blue"], env);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, /nothing to commit/);

        const refused = sh(work, ["scripts/ci/operate.sh", "cleanup", "staging", "blue"], env);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /blue is bluegreen:active and serves traffic/);

        const cl = sh(work, ["scripts/ci/operate.sh", "cleanup", "staging", "green"], env);
        assert.equal(cl.code, 0, cl.stderr);
        assert.doesNotMatch(fs.readFileSync(path.join(work, "Pulumi.staging.yaml"), "utf8"), /^ {4}green:/m);
        assert.equal(git(remote, "log", "-1", "--format=%s", "main"), "staging: cleanup green (alice)\n");
    });
});
