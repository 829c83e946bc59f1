import assert from "node:assert/strict";
import * as crypto from "crypto";
import { Crypter, SECRET_SIG, SIG_KEY, isSecretWrapper, newCrypter, openCrypter } from "../../runner/secrets";

const B64 = "[A-Za-z0-9+/]+={0,2}";

function b64Length(s: string): number {
    return Buffer.from(s, "base64").length;
}

describe("runner/secrets", () => {
    // PBKDF2 with 1,000,000 rounds costs about half a second per key: one crypter per describe.
    let crypter: Crypter;
    before(() => {
        crypter = newCrypter("correct horse");
    });

    describe("newCrypter", () => {
        it("describes its salt as v1:<8-byte salt>:v1:<12-byte nonce>:<ciphertext of the verifier>", () => {
            const m = new RegExp(`^v1:(${B64}):v1:(${B64}):(${B64})$`).exec(crypter.saltState);
            assert.ok(m, `unexpected saltState ${crypter.saltState}`);
            assert.equal(b64Length(m[1]), 8);
            assert.equal(b64Length(m[2]), 12);
            // "pulumi" (6 bytes) plus the 16-byte GCM tag.
            assert.equal(b64Length(m[3]), 6 + 16);
        });

        it("uses PBKDF2-SHA256 (1,000,000 rounds) and AES-256-GCM, as the Pulumi CLI does", () => {
            const [, saltB64, , nonceB64, bodyB64] = crypter.saltState.split(":");
            const key = crypto.pbkdf2Sync("correct horse", Buffer.from(saltB64, "base64"), 1_000_000, 32, "sha256");
            const body = Buffer.from(bodyB64, "base64");
            const d = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(nonceB64, "base64"));
            d.setAuthTag(body.subarray(body.length - 16));
            assert.equal(Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString("utf8"), "pulumi");

            // And the other way round: a value encrypted independently with that key decrypts.
            const nonce = crypto.randomBytes(12);
            const c = crypto.createCipheriv("aes-256-gcm", key, nonce);
            const ct = Buffer.concat([c.update("from the CLI", "utf8"), c.final(), c.getAuthTag()]);
            assert.equal(crypter.decrypt(`v1:${nonce.toString("base64")}:${ct.toString("base64")}`), "from the CLI");
        });

        it("gives every stack a fresh salt", () => {
            const other = newCrypter("correct horse");
            assert.notEqual(other.saltState.split(":")[1], crypter.saltState.split(":")[1]);
        });
    });

    describe("encrypt/decrypt", () => {
        it("round-trips text, including empty and non-ASCII strings", () => {
            for (const s of ["hunter2", "", "päss wörd ✓ ключ", "a:b:c"]) assert.equal(crypter.decrypt(crypter.encrypt(s)), s);
        });

        it("produces v1:<12-byte nonce>:<ciphertext+tag>, different every time (random nonce)", () => {
            const one = crypter.encrypt("same text");
            const two = crypter.encrypt("same text");
            assert.notEqual(one, two);
            for (const c of [one, two]) {
                const m = new RegExp(`^v1:(${B64}):(${B64})$`).exec(c);
                assert.ok(m, c);
                assert.equal(b64Length(m[1]), 12);
                assert.equal(b64Length(m[2]), "same text".length + 16);
            }
            assert.notEqual(one.split(":")[1], two.split(":")[1]);
            assert.equal(crypter.decrypt(one), "same text");
            assert.equal(crypter.decrypt(two), "same text");
        });

        it("refuses a malformed ciphertext", () => {
            assert.throws(() => crypter.decrypt("not a secret"), /malformed secret: expected v1:<nonce>:<ciphertext>/);
            assert.throws(() => crypter.decrypt("v2:AAAA:BBBB"), /malformed secret/);
            assert.throws(() => crypter.decrypt("v1::BBBB"), /malformed secret/);
            assert.throws(() => crypter.decrypt("v1:AAAA:"), /malformed secret/);
        });

        it("refuses a tampered ciphertext (GCM authentication)", () => {
            const [v, nonce, body] = crypter.encrypt("do not touch").split(":");
            const bytes = Buffer.from(body, "base64");
            bytes[0] ^= 0x01;
            assert.throws(() => crypter.decrypt(`${v}:${nonce}:${bytes.toString("base64")}`), /unable to authenticate|auth/i);
        });
    });

    describe("openCrypter", () => {
        it("opens a newCrypter's saltState with the same passphrase and decrypts its values", () => {
            const secret = crypter.encrypt("s3cret value");
            const reopened = openCrypter("correct horse", crypter.saltState);
            assert.equal(reopened.saltState, crypter.saltState);
            assert.equal(reopened.decrypt(secret), "s3cret value");
            assert.equal(crypter.decrypt(reopened.encrypt("back")), "back");
        });

        it("refuses a wrong passphrase with 'incorrect passphrase'", () => {
            assert.throws(
                () => openCrypter("wrong horse", crypter.saltState),
                /incorrect passphrase: PULUMI_CONFIG_PASSPHRASE does not open this stack's secrets/,
            );
        });

        it("refuses a malformed encryptionsalt before deriving any key", () => {
            for (const bad of ["", "garbage", "v2:AAAAAAAAAAA=:v1:AAAA:BBBB", "v1:AAAAAAAAAAA="]) {
                assert.throws(
                    () => openCrypter("correct horse", bad),
                    (e: Error) => e.message === `malformed encryptionsalt ${JSON.stringify(bad)}`,
                );
            }
        });
    });

    describe("isSecretWrapper", () => {
        it("recognises Pulumi's secret signature and nothing else", () => {
            assert.equal(SIG_KEY, "4dabf18193072939515e22adb298388d");
            assert.equal(SECRET_SIG, "1b47061264138c4ac30d75fd1eb44270");
            assert.equal(isSecretWrapper({ [SIG_KEY]: SECRET_SIG, value: "x" }), true);
            assert.equal(isSecretWrapper({ [SIG_KEY]: SECRET_SIG, ciphertext: "v1:a:b" }), true);
            assert.equal(isSecretWrapper({ [SIG_KEY]: "5cf8f73096256a8f31e491e813e4eb8e", value: "asset" }), false);
            assert.equal(isSecretWrapper({ value: "x" }), false);
            assert.equal(isSecretWrapper(null), false);
            assert.equal(isSecretWrapper("1b47061264138c4ac30d75fd1eb44270"), false);
        });
    });
});
