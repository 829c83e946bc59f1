// A throw-away stack for end-to-end tests: its own config file, state backend,
// artifact directory, HAProxy directory, container prefix and loopback ports.
// Everything runs for real: the runner CLI as a subprocess, Incus, haproxy, the app.

import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import YAML from "yaml";
import { dirStore } from "../components/io/artifacts";
import { parseServersState, parseShowProc, ProcInfo, ServerState } from "../components/io/runtimeApi";
import { BrokenMode, buildExampleArtifact } from "../example-app/artifact";

export const ROOT = path.resolve(__dirname, "..");
/** What `npm run local` runs: the compiled runner, rebuilt first when stale. */
const CLI = path.join(ROOT, "scripts/local.js");

export interface RunResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

export interface TestStackOptions {
    /** Unique per test file: names the temp dir, the stack and the container prefix. */
    readonly name: string;
    /** frontend = base, exporter = base + 1, components at base + 10, + 20, + 30 (blue), + 1 (green). */
    readonly basePort: number;
    readonly placement?: "host" | "incus";
    /**
     * Runs the runner inside this argv (e.g. the cluster's runner namespace: `scripts/cluster.sh exec --`),
     * with `env` added (e.g. INCUS_CONF). Absent: the runner runs here, as before.
     */
    readonly wrap?: { readonly argv: readonly string[]; readonly env?: Readonly<Record<string, string>> };
}

export const COMPONENTS = ["backend", "stream", "web"] as const;

export class TestStack {
    readonly dir: string;
    readonly stack: string;
    readonly prefix: string;
    readonly configFile: string;
    readonly backendUrl: string;
    readonly artifactsDir: string;
    readonly haproxyDir: string;
    readonly frontendPort: number;
    readonly exporterPort: number;
    readonly placement: "host" | "incus";
    /** The `bluegreen:*` config, without the namespace. Edit, then the next run writes it. */
    config: Record<string, any>;

    private readonly basePort: number;
    private readonly wrap?: TestStackOptions["wrap"];

    constructor(o: TestStackOptions) {
        this.wrap = o.wrap;
        // BLUEGREEN_E2E_NS and BLUEGREEN_E2E_PORT_OFFSET let two checkouts run the same e2e file at once.
        const name = `${o.name}${process.env.BLUEGREEN_E2E_NS ?? ""}`;
        this.basePort = o.basePort + Number(process.env.BLUEGREEN_E2E_PORT_OFFSET ?? 0);
        this.dir = `/tmp/bluegreen-e2e/${name}`;
        this.stack = `e2e-${name}`;
        this.prefix = `t${name}-`;
        this.configFile = path.join(this.dir, `Pulumi.${this.stack}.yaml`);
        this.backendUrl = `file://${path.join(this.dir, "state")}`;
        this.artifactsDir = path.join(this.dir, "artifacts");
        this.haproxyDir = path.join(this.dir, "haproxy");
        this.frontendPort = this.basePort;
        this.exporterPort = this.basePort + 1;
        this.placement = o.placement ?? "host";
        this.config = {
            active: "blue",
            colors: {},
            app: `e2e${name}`,
            prefix: this.prefix,
            components: Object.fromEntries(
                COMPONENTS.map((c) => [c, { hostPort: this.componentPort(c, "blue"), route: c === "web" ? "/" : `/${c === "backend" ? "api" : c}` }]),
            ),
            artifacts: { type: "dir", path: this.artifactsDir },
            haproxy: {
                placement: this.placement,
                frontendPort: this.frontendPort,
                exporterPort: this.exporterPort,
                ...(this.placement === "host" ? { dir: this.haproxyDir } : {}),
            },
            health: { attempts: 40, intervalMs: 250, timeoutMs: 2000 },
        };
    }

    componentPort(component: (typeof COMPONENTS)[number], color: "blue" | "green"): number {
        return this.basePort + 10 * (COMPONENTS.indexOf(component) + 1) + (color === "green" ? 1 : 0);
    }

    containerName(component: string, color: string): string {
        return `${this.prefix}${component}-${color}`;
    }

    /** Removes whatever an earlier, interrupted run of this suite left behind. */
    reset(): void {
        killHaproxyIn(this.haproxyDir);
        deleteInstancesWithPrefix(this.prefix);
        deleteVolumesWithPrefix(this.prefix);
        fs.rmSync(this.dir, { recursive: true, force: true });
        fs.mkdirSync(this.haproxyDir, { recursive: true });
        fs.mkdirSync(this.artifactsDir, { recursive: true });
    }

    /** Tears everything down, first through the product (destroy), then by force. */
    async teardown(): Promise<void> {
        await this.run(["destroy"]).catch(() => undefined);
        killHaproxyIn(this.haproxyDir);
        deleteInstancesWithPrefix(this.prefix);
        deleteVolumesWithPrefix(this.prefix);
    }

    setColors(colors: Record<string, string>, active?: string): void {
        this.config.colors = Object.fromEntries(Object.entries(colors).map(([c, release]) => [c, { release }]));
        if (active) this.config.active = active;
    }

    /** Secret config as the runner encrypted it (`secure:` values and the salt), kept across writes. */
    private secure: { salt?: string; values: Record<string, unknown> } = { values: {} };

    writeConfig(): void {
        const config = { ...Object.fromEntries(Object.entries(this.config).map(([k, v]) => [`bluegreen:${k}`, v])), ...this.secure.values };
        const doc = { ...(this.secure.salt ? { encryptionsalt: this.secure.salt } : {}), config };
        fs.writeFileSync(this.configFile, YAML.stringify(doc));
    }

    /** Sets a secret as an operator does: `npm run local -- config set <key> <value> --secret`. */
    async setSecret(key: string, value: string): Promise<void> {
        const r = await this.run(["config", "set", key, value, "--secret"]);
        if (r.code !== 0) throw new Error(`config set --secret failed (${r.code}):\n${r.stderr}`);
        const doc = YAML.parse(fs.readFileSync(this.configFile, "utf8"));
        this.secure = { salt: doc.encryptionsalt, values: { ...this.secure.values, [`bluegreen:${key}`]: doc.config[`bluegreen:${key}`] } };
    }

    /** Publishes the example app for one component. */
    async publishOne(component: string, release: string, broken?: BrokenMode): Promise<void> {
        await dirStore(this.artifactsDir).publish({ component, release }, await buildExampleArtifact(release, broken));
    }

    /** Publishes the example app for every component, as `npm run publish-example` does. */
    async publish(release: string, broken?: BrokenMode, migrations: readonly string[] = []): Promise<void> {
        const store = dirStore(this.artifactsDir);
        const artifact = await buildExampleArtifact(release, broken, migrations);
        for (const c of COMPONENTS) await store.publish({ component: c, release }, artifact);
    }

    /** Publishes a directory or tarball as a user would: `npm run publish` (ops/publish.ts) against this stack's config. */
    publishDir(component: string, release: string, source: string): RunResult {
        this.writeConfig();
        const r = spawnSync(
            process.execPath,
            [
                "-r",
                "ts-node/register/transpile-only",
                path.join(ROOT, "ops/publish.ts"),
                "--component",
                component,
                "--release",
                release,
                "--stack",
                this.stack,
                source,
            ],
            { cwd: ROOT, encoding: "utf8", env: { ...process.env, BLUEGREEN_CONFIG_FILE: this.configFile }, timeout: 120_000 },
        );
        return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
    }

    /** Starts the runner; resolves when it exits. `onStderr` sees progress as it comes. */
    start(
        args: readonly string[],
        onStderr?: (chunk: string, child: ChildProcess) => void,
        env: Readonly<Record<string, string>> = {},
    ): { child: ChildProcess; done: Promise<RunResult> } {
        this.writeConfig();
        const argv = [...(this.wrap?.argv ?? []), process.execPath, CLI, ...args, "--stack", this.stack, "--config-file", this.configFile, "--cwd", ROOT];
        const child = spawn(argv[0], argv.slice(1), {
            cwd: ROOT,
            env: { ...process.env, PULUMI_BACKEND_URL: this.backendUrl, PULUMI_CONFIG_PASSPHRASE: "", BLUEGREEN_QUIET: "", ...this.wrap?.env, ...env },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
        child.stderr!.on("data", (b: Buffer) => {
            stderr += b.toString();
            onStderr?.(stderr, child);
        });
        const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
        const done = new Promise<RunResult>((resolve) =>
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                resolve({ code: code ?? (signal ? 137 : 1), stdout, stderr });
            }),
        );
        return { child, done };
    }

    run(args: readonly string[]): Promise<RunResult> {
        return this.start(args).done;
    }

    /** `up --json`; returns the outputs when it succeeds. */
    async up(): Promise<RunResult & { outputs?: any }> {
        const r = await this.run(["up", "--json"]);
        return { ...r, outputs: r.code === 0 ? JSON.parse(r.stdout) : undefined };
    }

    /** Like up(), but fails the test with the runner's output when `up` fails. */
    async upOk(): Promise<any> {
        const r = await this.up();
        if (r.code !== 0) throw new Error(`up failed (${r.code}):\n${r.stderr}`);
        return r.outputs;
    }

    statePath(): string {
        return path.join(this.dir, "state", ".bluegreen-local", "bluegreen", `${this.stack}.json`);
    }

    state(): any {
        return JSON.parse(fs.readFileSync(this.statePath(), "utf8"));
    }

    /** HAProxy's files: in the temp dir (host) or inside the instance (incus). */
    layout() {
        return this.placement === "host"
            ? {
                  config: path.join(this.haproxyDir, "haproxy.cfg"),
                  admin: path.join(this.haproxyDir, "admin.sock"),
                  master: path.join(this.haproxyDir, "master.sock"),
                  stateDir: this.haproxyDir,
              }
            : {
                  config: "/etc/haproxy/bluegreen.cfg",
                  // The instance's sockets, forwarded to this host by Incus proxy devices.
                  admin: `/var/lib/${this.config.app}/${this.stack}/admin.sock`,
                  master: `/var/lib/${this.config.app}/${this.stack}/master.sock`,
                  stateDir: `/var/lib/${this.config.app}`,
              };
    }

    /** A HAProxy CLI conversation on this host's socket, as runtimeApi's converse has it: no half-close (`ignoreeof`), then `quit`. */
    private cli(socket: string, command: string): string {
        const r = spawnSync("socat", ["-t", "5", "STDIO,ignoreeof", `UNIX-CONNECT:${socket}`], {
            input: `${command}\nquit\n`,
            encoding: "utf8",
            timeout: 30_000,
        });
        return r.status === 0 ? r.stdout : "";
    }

    /** A file on the HAProxy host. `incus file pull`, not `exec cat`: Incus may drop exec output. */
    readHaproxyFile(file: string): string | undefined {
        if (this.placement === "host") return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
        const r = spawnSync("incus", ["file", "pull", `${this.prefix}haproxy${file}`, "-"], { encoding: "utf8" });
        return r.status === 0 ? r.stdout : undefined;
    }

    activeColorFile(): string | undefined {
        return this.readHaproxyFile(`${this.layout().stateDir}/active-color`)?.trim();
    }

    history(): string[] {
        return (this.readHaproxyFile(`${this.layout().stateDir}/history`) ?? "").split("\n").filter(Boolean);
    }

    admin(command: string): string {
        return this.cli(this.layout().admin, command);
    }

    serverStates(): ServerState[] {
        return parseServersState(this.admin("show servers state"));
    }

    proc(): ProcInfo | undefined {
        return parseShowProc(this.cli(this.layout().master, "show proc"));
    }

    /** One GET through the HAProxy frontend: the color and release are what HAProxy says answered. */
    get(p: string): Promise<{ status: number; color?: string; release?: string }> {
        return httpGet(`http://127.0.0.1:${this.frontendPort}${p}`, 3000, HAPROXY_HEADERS);
    }

    /** The color every component is served from, through the frontend ("mixed" if they differ). */
    async servedColor(): Promise<string> {
        const colors = new Set<string>();
        for (const c of Object.values<any>(this.config.components)) colors.add((await this.get(c.route)).color ?? "none");
        return colors.size === 1 ? [...colors][0] : "mixed";
    }
}

/** The headers HAProxy adds to every answer; the example app's own are x-color and x-release. */
export const HAPROXY_HEADERS = { color: "x-bluegreen-color", release: "x-bluegreen-release" };
export const APP_HEADERS = { color: "x-color", release: "x-release" };

export function httpGet(url: string, timeoutMs = 3000, names = APP_HEADERS): Promise<{ status: number; color?: string; release?: string }> {
    return new Promise((resolve) => {
        const req = http.get(url, { agent: false, timeout: timeoutMs, headers: { connection: "close" } }, (res) => {
            res.resume();
            res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, color: res.headers[names.color] as string, release: res.headers[names.release] as string }),
            );
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve({ status: 0 }));
    });
}

export interface InstanceView {
    readonly status: string;
    readonly createdAt: string;
    readonly config: Record<string, string>;
}

/** `incus query` of one instance, or undefined when absent. */
export function instance(name: string): InstanceView | undefined {
    const r = spawnSync("incus", ["query", `/1.0/instances/${name}`], { encoding: "utf8" });
    if (r.status !== 0) return undefined;
    const o = JSON.parse(r.stdout);
    return { status: o.status, createdAt: o.created_at, config: o.config };
}

export function deleteInstancesWithPrefix(prefix: string): void {
    const r = spawnSync("incus", ["list", "--format", "json"], { encoding: "utf8" });
    if (r.status !== 0) return;
    for (const i of JSON.parse(r.stdout) as { name: string }[]) {
        if (i.name.startsWith(prefix)) spawnSync("incus", ["delete", "--force", i.name]);
    }
}

/** Deletes every custom volume (with its snapshots) whose name starts with `prefix`, in every pool. */
export function deleteVolumesWithPrefix(prefix: string): void {
    const pools = spawnSync("incus", ["query", "/1.0/storage-pools"], { encoding: "utf8" });
    if (pools.status !== 0) return;
    for (const poolUrl of JSON.parse(pools.stdout) as string[]) {
        const pool = poolUrl.split("/").pop()!;
        const vols = spawnSync("incus", ["query", `/1.0/storage-pools/${pool}/volumes/custom`], { encoding: "utf8" });
        if (vols.status !== 0) continue;
        for (const volUrl of JSON.parse(vols.stdout) as string[]) {
            const vol = decodeURIComponent(volUrl.split("/").pop()!);
            if (!vol.startsWith(prefix)) continue;
            const snaps = spawnSync("incus", ["query", `/1.0/storage-pools/${pool}/volumes/custom/${vol}/snapshots`], { encoding: "utf8" });
            for (const snapUrl of snaps.status === 0 ? (JSON.parse(snaps.stdout) as string[]) : []) {
                spawnSync("incus", ["storage", "volume", "snapshot", "delete", pool, vol, decodeURIComponent(snapUrl.split("/").pop()!)]);
            }
            spawnSync("incus", ["storage", "volume", "delete", pool, vol]);
        }
    }
}

/** The custom volume's snapshot names, or undefined when the volume does not exist. */
export function volumeSnapshotNames(pool: string, volume: string): string[] | undefined {
    const r = spawnSync("incus", ["query", `/1.0/storage-pools/${pool}/volumes/custom/${volume}/snapshots`], { encoding: "utf8" });
    if (r.status !== 0) return undefined;
    return (JSON.parse(r.stdout) as string[]).map((u) => decodeURIComponent(u.split("/").pop()!));
}

export function killHaproxyIn(dir: string): void {
    const pidFile = path.join(dir, "haproxy.pid");
    if (!fs.existsSync(pidFile)) return;
    const pid = Number(fs.readFileSync(pidFile, "utf8"));
    try {
        if (pid && fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "haproxy") process.kill(pid, "SIGKILL");
    } catch {
        // already gone
    }
}

/** Waits until `check` returns true, bounded by count and time. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
        if (await check()) return;
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
}
