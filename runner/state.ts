// The runner's per-stack state file. Kept apart from the CLI's own checkpoints
// (`<backend>/.bluegreen-local/<project>/<stack>.json`), replaced atomically after
// every step, with secrets encrypted by the stack passphrase.

import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import { UsageError } from "./errors";
import { Crypter, SECRET_SIG, SIG_KEY, newCrypter, openCrypter, readPassphrase } from "./secrets";
import { migrateUrns } from "./urn";

export interface ResourceState {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly parent?: string;
    id?: string;
    /** Values as the provider saw them, with secrets wrapped `{SIG_KEY: SECRET_SIG, value}`. */
    inputs: Record<string, unknown>;
    outputs: Record<string, unknown>;
    dependencies: string[];
    /** Set by a partial failure: the resource exists but did not become healthy. */
    initErrors?: string[];
    /** The old half of a create-before-delete replacement, deleted at the end of `up`. */
    pendingDelete?: boolean;
    /** Resource options the engine keeps in state. */
    protect?: boolean;
    retainOnDelete?: boolean;
}

/** 2: URNs carry the full parent type chain, as the engine builds them. */
export const STATE_VERSION = 2;

export interface StackState {
    version: number;
    project: string;
    stack: string;
    resources: ResourceState[];
    outputs: Record<string, unknown>;
    secretsSalt?: string;
    updatedAt?: string;
}

export function statePath(backendDir: string, project: string, stack: string): string {
    return path.join(backendDir, ".bluegreen-local", project, `${stack}.json`);
}

export function emptyState(project: string, stack: string): StackState {
    return { version: STATE_VERSION, project, stack, resources: [], outputs: {} };
}

type Mapper = (wrapper: Record<string, unknown>) => Record<string, unknown>;

function mapSecrets(v: unknown, f: Mapper): unknown {
    if (Array.isArray(v)) return v.map((x) => mapSecrets(x, f));
    if (typeof v === "object" && v !== null) {
        const o = v as Record<string, unknown>;
        if (o[SIG_KEY] === SECRET_SIG) return f(o);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, mapSecrets(x, f)]));
    }
    return v;
}

export function containsSecrets(v: unknown): boolean {
    let found = false;
    mapSecrets(v, (w) => {
        found = true;
        return w;
    });
    return found;
}

/** Lazily opens the stack's crypter: PBKDF2 is slow and most stacks hold no secrets. */
export class SecretBox {
    private crypter?: Crypter;
    constructor(private salt?: string) {}

    get saltState(): string | undefined {
        return this.crypter?.saltState ?? this.salt;
    }

    private open(): Crypter {
        if (!this.crypter) {
            const pass = readPassphrase();
            if (pass === undefined) throw new Error("the stack state holds secrets: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)");
            this.crypter = this.salt ? openCrypter(pass, this.salt) : newCrypter(pass);
        }
        return this.crypter;
    }

    seal(v: unknown): unknown {
        return mapSecrets(v, (w) => ("ciphertext" in w ? w : { [SIG_KEY]: SECRET_SIG, ciphertext: this.open().encrypt(JSON.stringify(w.value ?? null)) }));
    }

    unseal(v: unknown): unknown {
        return mapSecrets(v, (w) => ("ciphertext" in w ? { [SIG_KEY]: SECRET_SIG, value: JSON.parse(this.open().decrypt(String(w.ciphertext))) } : w));
    }
}

export function loadState(file: string, project: string, stack: string): { state: StackState; box: SecretBox } {
    if (!fs.existsSync(file)) return { state: emptyState(project, stack), box: new SecretBox() };
    const raw = JSON.parse(fs.readFileSync(file, "utf8")) as StackState;
    if (raw.version > STATE_VERSION)
        throw new Error(`${file} has state version ${raw.version}; this runner reads up to ${STATE_VERSION}. Update the project (git pull, npm ci).`);
    const box = new SecretBox(raw.secretsSalt);
    const state = box.unseal(raw) as StackState;
    if ((state.version ?? 1) < 2) {
        // Version 1 copied MockMonitor's URNs (immediate parent type only).
        state.resources = migrateUrns(state.resources, state.stack, state.project);
        state.version = STATE_VERSION;
    }
    return { state, box };
}

/** Writes the whole state to a temp file and renames it over the old one. */
export function saveState(file: string, state: StackState, box: SecretBox): void {
    const sealed = box.seal({ ...state, updatedAt: new Date().toISOString() }) as StackState;
    if (box.saltState) sealed.secretsSalt = box.saltState;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, "w", 0o600);
    try {
        fs.writeSync(fd, JSON.stringify(sealed, null, 2) + "\n");
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
}

/**
 * One update at a time per stack: an exclusive flock(2) on `<state file>.lock`, held for this
 * runner's life by a `flock --no-fork <file> cat` child whose stdin is this process. The kernel
 * drops it when the holder ends, however it ends (cat reads EOF when the runner dies, even by
 * SIGKILL), so there is never a stale lock to break, and no break to race: two runners can
 * never both hold it. The file is never removed (an unlinked file could be locked by one
 * runner while another locks its successor); it holds the last holder's pid, for the message.
 */
export async function takeStateLock(file: string): Promise<() => Promise<void>> {
    const lock = `${file}.lock`;
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    // Its own session: a Ctrl-C to the runner's process group must not free the lock mid-run.
    const child = spawn("flock", ["--nonblock", "--no-fork", "--conflict-exit-code", "75", lock, "cat"], {
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
    });
    let stderr = "";
    const exited = new Promise<number | null>((resolve) => {
        child.once("close", (code) => resolve(code));
        child.once("error", (e) => {
            stderr ||= e.message; // flock(1) missing: spawn fails
            resolve(null);
        });
    });
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    // cat echoes this line once flock holds the lock; flock exits 75 when another process holds it.
    const echoed = new Promise<boolean>((resolve) => {
        let out = "";
        child.stdout!.on("data", (b: Buffer) => {
            out += b.toString();
            if (out.includes("held\n")) resolve(true);
        });
        child.stdout!.once("close", () => resolve(false));
    });
    child.stdin!.on("error", () => undefined); // EPIPE when flock exits at once
    child.stdin!.write("held\n");
    if (!(await echoed)) {
        const code = await exited;
        const pid = Number((fs.existsSync(lock) ? fs.readFileSync(lock, "utf8") : "").trim());
        if (code === 75) throw new UsageError(`another update of this stack is running${pid ? ` (pid ${pid})` : ""}; wait for it to end (${lock})`);
        throw new Error(`cannot take the lock ${lock} with flock(1) (util-linux): ${stderr.trim() || `exit ${code}`}`);
    }
    fs.writeFileSync(lock, `${process.pid}\n`);
    for (const s of [child.stdout!, child.stderr!, child.stdin!] as { unref?: () => void }[]) s.unref?.();
    child.unref();
    return async () => {
        child.stdin!.end();
        // Bounded: cat ends at EOF at once; the lock goes with it.
        const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(timer);
    };
}
