// The test cluster of scripts/cluster.sh: real Incus daemons in network namespaces of their own,
// up once per test file, driven from the "runner" namespace over HTTPS as a CI runner on the
// LAN would drive them. The root namespace never dials a LAN address: its default route leaves
// the machine.

import { spawn } from "child_process";
import * as path from "path";
import { ROOT, RunResult } from "./stack";

const SCRIPT = path.join(ROOT, "scripts/cluster.sh");

export interface ClusterMember {
    readonly name: string;
    readonly address: string;
    readonly url: string;
    readonly netns: string;
    readonly incusDir: string;
    readonly pid: number | null;
    readonly running: boolean;
    readonly rssKiB: number;
    /** As the cluster sees it: ONLINE, OFFLINE, EVACUATED...; UNREACHABLE or STOPPED when no member answers. */
    readonly state: string;
}

/** What `scripts/cluster.sh status --json` prints. */
export interface ClusterStatus {
    readonly name: string;
    readonly up: boolean;
    readonly mode: "cluster" | "single";
    readonly dir: string;
    readonly lan: string;
    readonly lanPrefix: string;
    readonly remote: string;
    readonly remoteUrl: string;
    readonly incusConf: string;
    readonly incusDir: string;
    readonly runner: { readonly netns: string; readonly address: string; readonly exec: string[] };
    readonly image: string;
    /** `first-last`: addresses on the LAN for routed NICs, free for tests. */
    readonly routedAddresses: string;
    readonly members: ClusterMember[];
}

export interface TestClusterOptions {
    /** Unique per test file; BLUEGREEN_E2E_NS is appended, as for TestStack. */
    readonly name: string;
    readonly mode?: "cluster" | "single";
    readonly members?: number;
}

export class TestCluster {
    readonly name: string;
    private readonly env: NodeJS.ProcessEnv;

    constructor(o: TestClusterOptions) {
        this.name = `${o.name}${process.env.BLUEGREEN_E2E_NS ?? ""}`;
        this.env = { ...process.env, BLUEGREEN_CLUSTER_NAME: this.name, MODE: o.mode ?? "cluster", MEMBERS: String(o.members ?? 3) };
    }

    /** Runs scripts/cluster.sh with a deadline; never rejects. */
    script(args: readonly string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
        return new Promise((resolve) => {
            const child = spawn(SCRIPT, args, { env: this.env, stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d) => (stdout += d));
            child.stderr.on("data", (d) => (stderr += d));
            const timer = setTimeout(() => {
                stderr += `\n[harness] scripts/cluster.sh ${args.join(" ")}: killed after ${o.timeoutMs} ms`;
                child.kill("SIGKILL");
            }, o.timeoutMs ?? 30_000);
            child.on("error", (e) => (stderr += `\n${e.message}`));
            child.on("close", (code) => {
                clearTimeout(timer);
                resolve({ code: code ?? -1, stdout, stderr });
            });
            child.stdin.end(o.input ?? "");
        });
    }

    async up(): Promise<ClusterStatus> {
        const r = await this.script(["up"], { timeoutMs: 180_000 });
        if (r.code !== 0) throw new Error(`scripts/cluster.sh up failed (${r.code}):\n${r.stderr}`);
        return this.status();
    }

    /** Member `member` (m2...) loses the LAN (`cut`), or gets it back: scripts/cluster.sh cut-link / heal-link. */
    async link(member: string, state: "cut" | "heal"): Promise<void> {
        const r = await this.script([`${state}-link`, member]);
        if (r.code !== 0) throw new Error(`scripts/cluster.sh ${state}-link ${member} failed (${r.code}):\n${r.stderr}`);
    }

    down(): Promise<RunResult> {
        return this.script(["down"], { timeoutMs: 120_000 });
    }

    async status(): Promise<ClusterStatus> {
        const r = await this.script(["status", "--json"]);
        if (r.code !== 0) throw new Error(`scripts/cluster.sh status failed (${r.code}):\n${r.stderr}`);
        return JSON.parse(r.stdout) as ClusterStatus;
    }

    /** argv inside the runner namespace, whose Incus client has the cluster as its remote. */
    runner(argv: readonly string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
        return this.script(["exec", "--", ...argv], o);
    }

    /** `<color> <release>` that the frontend at `url` answers with, asked from the runner namespace; `none -` without them. */
    async served(url: string): Promise<string> {
        const r = await this.runner(["curl", "-sS", "-m", "5", "-o", "/dev/null", "-D", "-", url]);
        const h = (k: string) => new RegExp(`^${k}: (\\S+)`, "mi").exec(r.stdout)?.[1];
        return `${h("x-bluegreen-color") ?? "none"} ${h("x-bluegreen-release") ?? "-"}`;
    }

    /** `incus` in the runner namespace; throws with stderr unless it exits 0. */
    async incus(args: readonly string[], o: { timeoutMs?: number; input?: string } = {}): Promise<string> {
        const r = await this.runner(["incus", ...args], o);
        if (r.code !== 0) throw new Error(`incus ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
        return r.stdout;
    }
}

/** The n-th address (from 0) of `first-last` on the LAN. */
export function routedAddress(st: ClusterStatus, n: number): string {
    const first = Number(st.routedAddresses.split("-")[0].split(".")[3]);
    return `${st.lanPrefix}.${first + n}`;
}
