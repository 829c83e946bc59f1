// Reads a Pulumi project the way the CLI does: Pulumi.yaml for the project, main
// program and backend; Pulumi.<stack>.yaml for config, with passphrase secrets.

import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { UsageError } from "./errors";
import { Crypter, newCrypter, openCrypter, readPassphrase } from "./secrets";

export interface Project {
    readonly dir: string;
    readonly name: string;
    /** Absolute path of the program's entry file. */
    readonly main: string;
    /** Directory of the local file backend. */
    readonly backendDir: string;
}

export interface StackConfig {
    /** Namespaced keys (`project:key`) to string values; structured values as JSON. */
    readonly values: Record<string, string>;
    readonly secretKeys: string[];
}

export { UsageError };

export function loadProject(dir: string): Project {
    const file = path.join(dir, "Pulumi.yaml");
    if (!fs.existsSync(file)) throw new UsageError(`no Pulumi.yaml in ${dir}; run from the project directory`);
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
    if (typeof doc.name !== "string") throw new UsageError(`${file}: expected a project name`);
    const runtime = typeof doc.runtime === "object" ? doc.runtime : { name: doc.runtime };
    if (runtime?.name !== "nodejs") throw new UsageError(`${file}: the runner only runs nodejs programs`);
    const main = path.resolve(dir, doc.main ?? "index.ts");
    if (!fs.existsSync(main)) throw new UsageError(`${file}: main program ${main} does not exist`);
    return { dir, name: doc.name, main: fs.statSync(main).isDirectory() ? path.join(main, "index.ts") : main, backendDir: backendDir(dir, doc.backend?.url) };
}

/** `PULUMI_BACKEND_URL` wins over Pulumi.yaml, as with the CLI. Only `file://` is supported. */
function backendDir(dir: string, fromYaml?: string): string {
    const url = process.env.PULUMI_BACKEND_URL || fromYaml || "file://./.state";
    if (!url.startsWith("file://")) throw new UsageError(`backend ${url}: the runner supports only file:// backends`);
    const p = url.slice("file://".length).replace(/^~(?=\/|$)/, process.env.HOME ?? "~");
    return path.resolve(dir, p);
}

export function stackConfigPath(project: Project, stack: string, configFile?: string): string {
    return configFile ? path.resolve(configFile) : path.join(project.dir, `Pulumi.${stack}.yaml`);
}

function passphrase(): string {
    const p = readPassphrase();
    if (p === undefined) throw new UsageError("this stack has secrets: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)");
    return p;
}

export function loadStackConfig(project: Project, stack: string, configFile?: string): StackConfig {
    const file = stackConfigPath(project, stack, configFile);
    if (!fs.existsSync(file)) throw new UsageError(`no stack config ${file}; create it (see the README's config reference)`);
    const doc = parseYaml(file) ?? {};
    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    let crypter: Crypter | undefined;
    for (const [rawKey, v] of Object.entries<unknown>(doc.config ?? {})) {
        const key = rawKey.includes(":") ? rawKey : `${project.name}:${rawKey}`;
        if (isSecure(v)) {
            crypter ??= openCrypter(passphrase(), requireSalt(doc, file));
            values[key] = crypter.decrypt(v.secure);
            secretKeys.push(key);
        } else if (typeof v === "object" && v !== null) {
            if (containsSecure(v)) throw new UsageError(`${file}: ${key}: nested secure values are not supported; put the secret in a key of its own`);
            values[key] = JSON.stringify(v);
        } else {
            values[key] = String(v);
        }
    }
    return { values, secretKeys };
}

/** A stack file's YAML; a syntax error names the file and is the user's to fix. */
function parseYaml(file: string): { config?: Record<string, unknown>; encryptionsalt?: unknown } | null {
    try {
        return YAML.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        if (e instanceof YAML.YAMLError) throw new UsageError(`${file} is not valid YAML: ${e.message.trim()}\nNothing was touched.`);
        throw e;
    }
}

function isSecure(v: unknown): v is { secure: string } {
    return typeof v === "object" && v !== null && Object.keys(v).length === 1 && typeof (v as { secure?: unknown }).secure === "string";
}

function containsSecure(v: unknown): boolean {
    if (isSecure(v)) return true;
    return typeof v === "object" && v !== null && Object.values(v).some(containsSecure);
}

function requireSalt(doc: { encryptionsalt?: unknown }, file: string): string {
    if (typeof doc.encryptionsalt !== "string") throw new UsageError(`${file} has secure values but no encryptionsalt`);
    return doc.encryptionsalt;
}

/**
 * Sets one config value in the stack file, keeping its comments. Secrets are
 * encrypted with the stack's passphrase; the salt is created when missing.
 */
export function setStackConfig(project: Project, stack: string, key: string, value: string, secret: boolean, configFile?: string): void {
    const file = stackConfigPath(project, stack, configFile);
    const doc = fs.existsSync(file) ? YAML.parseDocument(fs.readFileSync(file, "utf8")) : new YAML.Document({ config: {} });
    const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
    if (secret) {
        const salt = doc.get("encryptionsalt");
        const crypter = typeof salt === "string" ? openCrypter(passphrase(), salt) : newCrypter(passphrase());
        if (typeof salt !== "string") doc.set("encryptionsalt", crypter.saltState);
        doc.setIn(["config", fullKey], { secure: crypter.encrypt(value) });
    } else {
        let parsed: unknown = value;
        try {
            if (/^[[{]/.test(value.trim())) parsed = JSON.parse(value);
        } catch {
            parsed = value;
        }
        doc.setIn(["config", fullKey], parsed);
    }
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, doc.toString());
    fs.renameSync(tmp, file);
}
