import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { Project, UsageError, loadProject, loadStackConfig, setStackConfig, stackConfigPath } from "../../runner/project";
import { Crypter, newCrypter } from "../../runner/secrets";
import { makeTmp, removeTmp, setEnv } from "../helpers/tmp";

const PASS = "project-test-pass";

/** Writes Pulumi.yaml and an empty program at `main` (loadProject stats it). */
function writeProject(dir: string, yaml: string, main = "index.ts"): void {
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), yaml);
    fs.mkdirSync(path.dirname(path.join(dir, main)), { recursive: true });
    fs.writeFileSync(path.join(dir, main), "export {};\n");
}

describe("runner/project", () => {
    let dir: string;
    let restoreEnv: () => void;

    beforeEach(() => {
        dir = makeTmp("bluegreen-project-");
        restoreEnv = setEnv({ PULUMI_BACKEND_URL: undefined, PULUMI_CONFIG_PASSPHRASE: undefined, PULUMI_CONFIG_PASSPHRASE_FILE: undefined });
    });

    afterEach(() => {
        restoreEnv();
        removeTmp(dir);
    });

    describe("loadProject", () => {
        it("reads the name, resolves main against the project dir and the backend from backend.url", () => {
            writeProject(dir, "name: demo\nruntime: nodejs\nmain: src/prog.ts\nbackend:\n  url: file://./x\n", "src/prog.ts");
            const p = loadProject(dir);
            assert.deepEqual(p, { dir, name: "demo", main: path.join(dir, "src", "prog.ts"), backendDir: path.join(dir, "x") });
        });

        it("accepts the runtime as an object, defaults main to index.ts and the backend to ./.state", () => {
            writeProject(dir, "name: demo\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
            const p = loadProject(dir);
            assert.equal(p.main, path.join(dir, "index.ts"));
            assert.equal(p.backendDir, path.join(dir, ".state"));
        });

        it("takes index.ts inside main when main names a directory", () => {
            writeProject(dir, "name: demo\nruntime: nodejs\nmain: prog/\n", "prog/index.ts");
            assert.equal(loadProject(dir).main, path.join(dir, "prog", "index.ts"));
        });

        it("resolves absolute and home-relative file:// backends", () => {
            writeProject(dir, "name: demo\nruntime: nodejs\nbackend:\n  url: file:///var/tmp/somewhere\n");
            assert.equal(loadProject(dir).backendDir, "/var/tmp/somewhere");
            const restore = setEnv({ HOME: "/home/tester" });
            try {
                writeProject(dir, "name: demo\nruntime: nodejs\nbackend:\n  url: file://~/states\n");
                assert.equal(loadProject(dir).backendDir, "/home/tester/states");
            } finally {
                restore();
            }
        });

        it("lets PULUMI_BACKEND_URL override Pulumi.yaml", () => {
            writeProject(dir, "name: demo\nruntime: nodejs\nbackend:\n  url: file://./x\n");
            process.env.PULUMI_BACKEND_URL = "file://./from-env";
            assert.equal(loadProject(dir).backendDir, path.join(dir, "from-env"));
            process.env.PULUMI_BACKEND_URL = "file:///abs/state";
            assert.equal(loadProject(dir).backendDir, "/abs/state");
        });

        it("refuses a backend that is not file://", () => {
            writeProject(dir, "name: demo\nruntime: nodejs\nbackend:\n  url: s3://bucket/state\n");
            assert.throws(
                () => loadProject(dir),
                (e: Error) => e instanceof UsageError && e.message === "backend s3://bucket/state: the runner supports only file:// backends",
            );
            writeProject(dir, "name: demo\nruntime: nodejs\n");
            process.env.PULUMI_BACKEND_URL = "https://api.pulumi.com";
            assert.throws(() => loadProject(dir), /backend https:\/\/api\.pulumi\.com: the runner supports only file:\/\/ backends/);
        });

        it("names the directory when there is no Pulumi.yaml", () => {
            assert.throws(
                () => loadProject(dir),
                (e: Error) => e instanceof UsageError && e.message === `no Pulumi.yaml in ${dir}; run from the project directory`,
            );
        });

        it("refuses a project without a name, or one that is not nodejs", () => {
            writeProject(dir, "runtime: nodejs\n");
            assert.throws(() => loadProject(dir), /Pulumi\.yaml: expected a project name/);
            writeProject(dir, "name: demo\nruntime: python\n");
            assert.throws(() => loadProject(dir), /the runner only runs nodejs programs/);
        });
    });

    describe("stack config", () => {
        // PBKDF2 is slow: one crypter for the whole describe.
        let crypter: Crypter;
        before(() => {
            crypter = newCrypter(PASS);
        });

        let project: Project;
        beforeEach(() => {
            writeProject(dir, "name: demo\nruntime: nodejs\n");
            project = loadProject(dir);
        });

        function writeStack(doc: unknown, stack = "dev"): string {
            const file = path.join(dir, `Pulumi.${stack}.yaml`);
            fs.writeFileSync(file, typeof doc === "string" ? doc : YAML.stringify(doc));
            return file;
        }

        describe("stackConfigPath", () => {
            it("is Pulumi.<stack>.yaml in the project, or the --config-file resolved", () => {
                assert.equal(stackConfigPath(project, "prod"), path.join(dir, "Pulumi.prod.yaml"));
                assert.equal(stackConfigPath(project, "prod", "/etc/x.yaml"), "/etc/x.yaml");
                assert.equal(stackConfigPath(project, "prod", "rel.yaml"), path.resolve("rel.yaml"));
            });
        });

        describe("loadStackConfig", () => {
            it("namespaces bare keys with the project, keeps namespaced ones, stringifies scalars and objects", () => {
                writeStack({
                    config: {
                        region: "eu-west",
                        "aws:region": "us-east-1",
                        port: 8080,
                        enabled: true,
                        "demo:colors": { blue: { release: "a1b2c3d" } },
                        list: [1, "two"],
                    },
                });
                const c = loadStackConfig(project, "dev");
                assert.deepEqual(c.values, {
                    "demo:region": "eu-west",
                    "aws:region": "us-east-1",
                    "demo:port": "8080",
                    "demo:enabled": "true",
                    "demo:colors": '{"blue":{"release":"a1b2c3d"}}',
                    "demo:list": '[1,"two"]',
                });
                assert.deepEqual(c.secretKeys, []);
            });

            it("reads an empty file, and one without config, as no values", () => {
                writeStack("");
                assert.deepEqual(loadStackConfig(project, "dev"), { values: {}, secretKeys: [] });
                writeStack("encryptionsalt: whatever\n");
                assert.deepEqual(loadStackConfig(project, "dev"), { values: {}, secretKeys: [] });
            });

            it("reads --config-file instead of Pulumi.<stack>.yaml", () => {
                const other = path.join(dir, "elsewhere.yaml");
                fs.writeFileSync(other, "config:\n  demo:where: elsewhere\n");
                writeStack({ config: { where: "default" } });
                assert.equal(loadStackConfig(project, "dev", other).values["demo:where"], "elsewhere");
            });

            it("says how to create a missing stack file", () => {
                assert.throws(
                    () => loadStackConfig(project, "nope"),
                    (e: Error) => e instanceof UsageError && e.message.startsWith(`no stack config ${path.join(dir, "Pulumi.nope.yaml")}; create it`),
                );
            });

            it("decrypts secure: values with PULUMI_CONFIG_PASSPHRASE and lists them in secretKeys", () => {
                writeStack({
                    encryptionsalt: crypter.saltState,
                    config: { plain: "p", token: { secure: crypter.encrypt("tok-3xyz") }, "other:pw": { secure: crypter.encrypt("pw-9") } },
                });
                process.env.PULUMI_CONFIG_PASSPHRASE = PASS;
                const c = loadStackConfig(project, "dev");
                assert.deepEqual(c.values, { "demo:plain": "p", "demo:token": "tok-3xyz", "other:pw": "pw-9" });
                assert.deepEqual(c.secretKeys, ["demo:token", "other:pw"]);
            });

            it("reads the passphrase from PULUMI_CONFIG_PASSPHRASE_FILE", () => {
                writeStack({ encryptionsalt: crypter.saltState, config: { token: { secure: crypter.encrypt("from-file") } } });
                const passFile = path.join(dir, "pass.txt");
                fs.writeFileSync(passFile, `${PASS}\n`);
                process.env.PULUMI_CONFIG_PASSPHRASE_FILE = passFile;
                assert.equal(loadStackConfig(project, "dev").values["demo:token"], "from-file");
            });

            it("asks for the passphrase when the stack has secrets and none is set", () => {
                writeStack({ encryptionsalt: crypter.saltState, config: { token: { secure: crypter.encrypt("x") } } });
                assert.throws(
                    () => loadStackConfig(project, "dev"),
                    (e: Error) =>
                        e instanceof UsageError && e.message === "this stack has secrets: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)",
                );
            });

            it("does not need a passphrase when there are no secure values", () => {
                writeStack({ encryptionsalt: crypter.saltState, config: { plain: "p" } });
                assert.deepEqual(loadStackConfig(project, "dev").values, { "demo:plain": "p" });
            });

            it("refuses secure values without an encryptionsalt", () => {
                process.env.PULUMI_CONFIG_PASSPHRASE = PASS;
                const file = writeStack({ config: { token: { secure: crypter.encrypt("x") } } });
                assert.throws(
                    () => loadStackConfig(project, "dev"),
                    (e: Error) => e.message === `${file} has secure values but no encryptionsalt`,
                );
            });

            it("refuses a secure value nested inside an object", () => {
                process.env.PULUMI_CONFIG_PASSPHRASE = PASS;
                writeStack({ encryptionsalt: crypter.saltState, config: { db: { user: "u", password: { secure: crypter.encrypt("x") } } } });
                assert.throws(() => loadStackConfig(project, "dev"), /demo:db: nested secure values are not supported; put the secret in a key of its own/);
                writeStack({ encryptionsalt: crypter.saltState, config: { list: [{ secure: crypter.encrypt("x") }] } });
                assert.throws(() => loadStackConfig(project, "dev"), /demo:list: nested secure values are not supported/);
            });
        });

        describe("setStackConfig", () => {
            const file = () => path.join(dir, "Pulumi.dev.yaml");

            it("creates the stack file with a namespaced plain value", () => {
                setStackConfig(project, "dev", "greeting", "hello world", false);
                assert.deepEqual(YAML.parse(fs.readFileSync(file(), "utf8")), { config: { "demo:greeting": "hello world" } });
                assert.deepEqual(loadStackConfig(project, "dev").values, { "demo:greeting": "hello world" });
            });

            it("keeps an explicit namespace, and stores scalars that look like numbers as strings", () => {
                setStackConfig(project, "dev", "aws:region", "eu-north-1", false);
                setStackConfig(project, "dev", "port", "8080", false);
                assert.deepEqual(loadStackConfig(project, "dev").values, { "aws:region": "eu-north-1", "demo:port": "8080" });
            });

            it("stores JSON objects and arrays as YAML structure, and malformed JSON as a string", () => {
                setStackConfig(project, "dev", "colors", '{"blue":{"release":"a1b2c3d"}}', false);
                setStackConfig(project, "dev", "list", "[1, 2]", false);
                setStackConfig(project, "dev", "broken", "{not json", false);
                assert.deepEqual(YAML.parse(fs.readFileSync(file(), "utf8")).config, {
                    "demo:colors": { blue: { release: "a1b2c3d" } },
                    "demo:list": [1, 2],
                    "demo:broken": "{not json",
                });
                assert.equal(loadStackConfig(project, "dev").values["demo:colors"], '{"blue":{"release":"a1b2c3d"}}');
            });

            it("replaces an existing value and keeps the file's comments", () => {
                writeStack("# The dev stack: top comment\nconfig:\n  # how to greet\n  demo:greeting: hi # inline\n  demo:other: keep\n");
                setStackConfig(project, "dev", "greeting", "bonjour", false);
                const text = fs.readFileSync(file(), "utf8");
                assert.match(text, /^# The dev stack: top comment$/m);
                assert.match(text, /# how to greet/);
                assert.match(text, /demo:greeting: bonjour/);
                assert.deepEqual(loadStackConfig(project, "dev").values, { "demo:greeting": "bonjour", "demo:other": "keep" });
            });

            it("encrypts a secret, creating the encryptionsalt, without writing the plaintext", () => {
                process.env.PULUMI_CONFIG_PASSPHRASE = PASS;
                setStackConfig(project, "dev", "token", "very-secret-token-42", true);
                const text = fs.readFileSync(file(), "utf8");
                assert.ok(!text.includes("very-secret-token-42"), text);
                const doc = YAML.parse(text);
                assert.match(doc.encryptionsalt, /^v1:[A-Za-z0-9+/=]+:v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
                assert.match(doc.config["demo:token"].secure, /^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
            });

            it("reads back a secret it wrote, and reuses the salt for the next one", () => {
                process.env.PULUMI_CONFIG_PASSPHRASE = PASS;
                setStackConfig(project, "dev", "token", "very-secret-token-42", true);
                const salt = YAML.parse(fs.readFileSync(file(), "utf8")).encryptionsalt;
                setStackConfig(project, "dev", "other", "second-secret", true);
                assert.equal(YAML.parse(fs.readFileSync(file(), "utf8")).encryptionsalt, salt);
                const c = loadStackConfig(project, "dev");
                assert.deepEqual(c.values, { "demo:token": "very-secret-token-42", "demo:other": "second-secret" });
                assert.deepEqual(c.secretKeys, ["demo:token", "demo:other"]);
            });

            it("refuses a secret without a passphrase and leaves the file alone", () => {
                writeStack("config:\n  demo:a: b\n");
                assert.throws(() => setStackConfig(project, "dev", "token", "x", true), /set PULUMI_CONFIG_PASSPHRASE/);
                assert.equal(fs.readFileSync(file(), "utf8"), "config:\n  demo:a: b\n");
            });

            it("writes --config-file, atomically: no temp file is left behind", () => {
                const other = path.join(dir, "sub", "..", "custom.yaml");
                setStackConfig(project, "dev", "k", "v", false, other);
                assert.deepEqual(fs.readdirSync(dir).sort(), ["Pulumi.yaml", "custom.yaml", "index.ts"]);
                assert.deepEqual(YAML.parse(fs.readFileSync(path.join(dir, "custom.yaml"), "utf8")), { config: { "demo:k": "v" } });
            });
        });
    });
});
