import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { SECRET_SIG, SIG_KEY } from "../../runner/secrets";
import { ResourceState, SecretBox, StackState, containsSecrets, emptyState, loadState, saveState, statePath } from "../../runner/state";
import { makeTmp, removeTmp, setEnv } from "../helpers/tmp";

const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

function resource(name: string, inputs: Record<string, unknown>, outputs: Record<string, unknown>): ResourceState {
    return {
        urn: `urn:pulumi:dev::demo::pulumi-nodejs:dynamic:Resource::${name}`,
        type: "pulumi-nodejs:dynamic:Resource",
        name,
        custom: true,
        id: `${name}-id`,
        inputs,
        outputs,
        dependencies: [],
    };
}

describe("runner/state", () => {
    let dir: string;
    let restoreEnv: () => void;

    beforeEach(() => {
        dir = makeTmp("bluegreen-state-");
        restoreEnv = setEnv({ PULUMI_CONFIG_PASSPHRASE: undefined, PULUMI_CONFIG_PASSPHRASE_FILE: undefined });
    });

    afterEach(() => {
        restoreEnv();
        removeTmp(dir);
    });

    it("statePath is <backend>/.bluegreen-local/<project>/<stack>.json", () => {
        assert.equal(statePath("/srv/state", "bluegreen", "prod"), "/srv/state/.bluegreen-local/bluegreen/prod.json");
    });

    it("loadState of a missing file is an empty state for the stack", () => {
        const { state, box } = loadState(path.join(dir, "nope.json"), "demo", "dev");
        assert.deepEqual(state, { version: 2, project: "demo", stack: "dev", resources: [], outputs: {} });
        assert.deepEqual(state, emptyState("demo", "dev"));
        assert.equal(box.saltState, undefined);
    });

    it("round-trips a state without secrets, needing no passphrase, atomically and private", () => {
        const file = statePath(dir, "demo", "dev");
        const state: StackState = {
            ...emptyState("demo", "dev"),
            resources: [resource("a", { value: "1" }, { value: "1", list: [1, { x: null }] })],
            outputs: { url: "http://127.0.0.1:8080", n: 3 },
        };
        const before = Date.now();
        saveState(file, state, new SecretBox());
        assert.deepEqual(fs.readdirSync(path.dirname(file)), ["dev.json"]);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        const raw = JSON.parse(fs.readFileSync(file, "utf8"));
        assert.equal(raw.secretsSalt, undefined);
        assert.ok(Date.parse(raw.updatedAt) >= before - 1000, raw.updatedAt);

        const { state: loaded } = loadState(file, "demo", "dev");
        const { updatedAt, ...rest } = loaded;
        assert.equal(updatedAt, raw.updatedAt);
        assert.deepEqual(rest, state);
    });

    describe("with secrets", () => {
        const PASS = "state-test-pass";
        const file = () => statePath(dir, "demo", "dev");
        const state = (): StackState => ({
            ...emptyState("demo", "dev"),
            resources: [
                resource("a", { password: secret("pl41n-p4ss") }, { password: secret("pl41n-p4ss"), nested: { list: [secret({ token: "t0k3n-xyz" })] } }),
            ],
            outputs: { shown: "visible", hidden: secret("0utput-s3cret") },
        });

        // One save (new salt) shared by the tests below: PBKDF2 costs ~0.5 s per key.
        let text: string;
        let savedSalt: string | undefined;
        before(() => {
            const restore = setEnv({ PULUMI_CONFIG_PASSPHRASE: PASS });
            const scratch = makeTmp("bluegreen-state-");
            try {
                const box = new SecretBox();
                const f = statePath(scratch, "demo", "dev");
                saveState(f, state(), box);
                text = fs.readFileSync(f, "utf8");
                savedSalt = box.saltState;
            } finally {
                restore();
                removeTmp(scratch);
            }
        });
        beforeEach(() => {
            fs.mkdirSync(path.dirname(file()), { recursive: true });
            fs.writeFileSync(file(), text);
        });

        it("stores secrets as ciphertext and never as plaintext", () => {
            for (const plain of ["pl41n-p4ss", "t0k3n-xyz", "0utput-s3cret"]) assert.ok(!text.includes(plain), `${plain} in ${text}`);
            const raw = JSON.parse(text);
            const pw = raw.resources[0].inputs.password;
            assert.deepEqual(Object.keys(pw).sort(), [SIG_KEY, "ciphertext"].sort());
            assert.equal(pw[SIG_KEY], SECRET_SIG);
            assert.match(pw.ciphertext, /^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
            assert.equal(raw.outputs.shown, "visible");
            assert.ok("ciphertext" in raw.outputs.hidden);
            assert.ok("ciphertext" in raw.resources[0].outputs.nested.list[0]);
            assert.equal(raw.secretsSalt, savedSalt);
            assert.match(raw.secretsSalt, /^v1:[A-Za-z0-9+/=]+:v1:/);
        });

        it("gives the plaintext back on load with the passphrase", () => {
            process.env.PULUMI_CONFIG_PASSPHRASE = PASS;
            const { state: loaded, box } = loadState(file(), "demo", "dev");
            assert.deepEqual(loaded.resources, state().resources);
            assert.deepEqual(loaded.outputs, state().outputs);
            assert.equal(box.saltState, savedSalt);
            // Saving again keeps the salt, and still no plaintext.
            saveState(file(), loaded, box);
            const again = fs.readFileSync(file(), "utf8");
            assert.equal(JSON.parse(again).secretsSalt, savedSalt);
            assert.ok(!again.includes("pl41n-p4ss"));
        });

        it("reads the passphrase from PULUMI_CONFIG_PASSPHRASE_FILE, as the stack config does", () => {
            const passFile = path.join(dir, "passphrase.txt");
            fs.writeFileSync(passFile, `${PASS}\n`);
            const restore = setEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: passFile });
            try {
                assert.deepEqual(loadState(file(), "demo", "dev").state.outputs, state().outputs);
            } finally {
                restore();
            }
        });

        it("asks for the passphrase to load secrets", () => {
            assert.throws(() => loadState(file(), "demo", "dev"), /the stack state holds secrets: set PULUMI_CONFIG_PASSPHRASE/);
        });

        it("refuses a wrong passphrase", () => {
            process.env.PULUMI_CONFIG_PASSPHRASE = "not the passphrase";
            assert.throws(() => loadState(file(), "demo", "dev"), /incorrect passphrase/);
        });

        it("does not alter the in-memory state it saves", () => {
            const s = state();
            const copy = JSON.parse(JSON.stringify(s));
            // Already-sealed wrappers are kept as they are, so this needs no passphrase.
            const sealed = { [SIG_KEY]: SECRET_SIG, ciphertext: "v1:AAAA:BBBB" };
            s.resources.push(resource("b", { k: sealed }, {}));
            copy.resources.push(resource("b", { k: sealed }, {}));
            const box = new SecretBox(savedSalt);
            process.env.PULUMI_CONFIG_PASSPHRASE = PASS;
            saveState(file(), s, box);
            assert.deepEqual(s, copy);
            assert.deepEqual(JSON.parse(fs.readFileSync(file(), "utf8")).resources[1].inputs.k, sealed);
        });
    });

    describe("containsSecrets", () => {
        it("finds a secret wrapper at any depth, in objects and arrays", () => {
            assert.equal(containsSecrets(secret("x")), true);
            assert.equal(containsSecrets({ a: { b: [1, 2, { c: secret(null) }] } }), true);
            assert.equal(containsSecrets([[secret(1)]]), true);
            assert.equal(containsSecrets({ [SIG_KEY]: SECRET_SIG, ciphertext: "v1:a:b" }), true);
        });

        it("is false without one", () => {
            assert.equal(containsSecrets({ a: { b: [1, "x", null, { [SIG_KEY]: "other" }] } }), false);
            assert.equal(containsSecrets("1b47061264138c4ac30d75fd1eb44270"), false);
            assert.equal(containsSecrets(undefined), false);
        });
    });
});
