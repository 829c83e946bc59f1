// Pulumi's passphrase secrets provider, byte-compatible with the CLI: PBKDF2-SHA256
// (1,000,000 rounds, 8-byte salt) derives an AES-256-GCM key; values read
// `v1:<b64 nonce>:<b64 ciphertext+tag>`; `encryptionsalt` is `v1:<b64 salt>:<encrypt("pulumi")>`.

import * as crypto from "crypto";
import * as fs from "fs";

const ROUNDS = 1_000_000;
const VERIFIER = "pulumi";

export interface Crypter {
    readonly saltState: string;
    encrypt(plaintext: string): string;
    decrypt(ciphertext: string): string;
}

function crypterFromKey(key: Buffer, saltState: string): Crypter {
    return {
        saltState,
        encrypt(plaintext) {
            const nonce = crypto.randomBytes(12);
            const c = crypto.createCipheriv("aes-256-gcm", key, nonce);
            const body = Buffer.concat([c.update(plaintext, "utf8"), c.final(), c.getAuthTag()]);
            return `v1:${nonce.toString("base64")}:${body.toString("base64")}`;
        },
        decrypt(ciphertext) {
            const [v, nonceB64, bodyB64] = ciphertext.split(":");
            if (v !== "v1" || !nonceB64 || !bodyB64) throw new Error("malformed secret: expected v1:<nonce>:<ciphertext>");
            const body = Buffer.from(bodyB64, "base64");
            const d = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(nonceB64, "base64"));
            d.setAuthTag(body.subarray(body.length - 16));
            return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString("utf8");
        },
    };
}

function deriveKey(passphrase: string, salt: Buffer): Buffer {
    return crypto.pbkdf2Sync(passphrase, salt, ROUNDS, 32, "sha256");
}

/** Opens the crypter a stack's `encryptionsalt` describes; throws on a wrong passphrase. */
export function openCrypter(passphrase: string, saltState: string): Crypter {
    // v1:<salt>:<verifier>, and the verifier is itself v1:<nonce>:<ciphertext>.
    const parts = saltState.split(":");
    if (parts.length !== 5 || parts[0] !== "v1") throw new Error(`malformed encryptionsalt ${JSON.stringify(saltState)}`);
    const c = crypterFromKey(deriveKey(passphrase, Buffer.from(parts[1], "base64")), saltState);
    let ok = false;
    try {
        ok = c.decrypt(parts.slice(2).join(":")) === VERIFIER;
    } catch {
        ok = false;
    }
    if (!ok) throw new Error("incorrect passphrase: PULUMI_CONFIG_PASSPHRASE does not open this stack's secrets");
    return c;
}

/** A fresh crypter with a new salt, for a stack that has no `encryptionsalt` yet. */
export function newCrypter(passphrase: string): Crypter {
    const salt = crypto.randomBytes(8);
    const key = deriveKey(passphrase, salt);
    const verifier = crypterFromKey(key, "").encrypt(VERIFIER);
    return crypterFromKey(key, `v1:${salt.toString("base64")}:${verifier}`);
}

/** The key/value pair Pulumi uses to mark a secret inside property values. */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretWrapper(v: unknown): v is { [SIG_KEY]: string; value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The stack passphrase, as the CLI reads it: PULUMI_CONFIG_PASSPHRASE, else PULUMI_CONFIG_PASSPHRASE_FILE. */
export function readPassphrase(): string | undefined {
    if (process.env.PULUMI_CONFIG_PASSPHRASE !== undefined) return process.env.PULUMI_CONFIG_PASSPHRASE;
    const file = process.env.PULUMI_CONFIG_PASSPHRASE_FILE;
    return file ? fs.readFileSync(file, "utf8").trim() : undefined;
}
