// Generated load for an analysis window (model/rollout/load.ts): wrk, started on this host
// against the frontend, bounded by its own `-d` and by a kill at that time plus a margin,
// and stopped by its pid when the window ends early or fails. Its Lua script (path,
// headers, pace) lives in a private temp dir for the run; headers are never printed.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { startBounded } from "./exec";
import { progress } from "./progress";
import { HaproxyHost, LOOPBACK, haproxyTarget } from "../model/traffic/topology";
import { serverAddress } from "./incus";
import { LoadSpec, describeLoad, parseLoadResult, wrkLoadArgv, wrkLoadScript } from "../model/rollout/load";

export interface RunningLoad {
    readonly pid: number;
    /** Stops it (if still running), removes its script, and reports what it did. */
    stop(): Promise<void>;
}

/** Slack past `-d` before wrk is killed: it stops by itself at `-d`. */
const KILL_MARGIN_MS = 15_000;

/** Starts the load for `seconds` against `baseUrl` (`http://127.0.0.1:<frontendPort>`); `label` names it in progress. */
export function startLoad(spec: LoadSpec, baseUrl: string, seconds: number, label: string): RunningLoad {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-load-"));
    fs.chmodSync(dir, 0o700);
    const script = path.join(dir, "load.lua");
    fs.writeFileSync(script, wrkLoadScript(spec), { mode: 0o600 });
    const started = startBounded({ argv: wrkLoadArgv(spec, { baseUrl, seconds, script }), timeoutMs: seconds * 1000 + KILL_MARGIN_MS });
    progress(
        `${label}: load GET ${spec.path} at up to ${spec.rps} rps over ${spec.concurrency} connection(s) for ${seconds}s through ${baseUrl} (wrk, pid ${started.pid})`,
    );
    let stopped: Promise<void> | undefined;
    return {
        pid: started.pid,
        stop() {
            stopped ??= (async () => {
                const r = await started.stop();
                fs.rmSync(dir, { recursive: true, force: true });
                const result = parseLoadResult(r.stdout);
                const why = result ? "" : ` (exit ${r.code}${r.timedOut ? ", killed at its time bound" : ""}: ${r.stderr.trim().slice(0, 200)})`;
                progress(`${label}: load ${describeLoad(spec, result)}${why}`);
            })();
            return stopped;
        },
    };
}

/** Runs `fn` with the load on, when there is one; the load is stopped however `fn` ends. */
export async function withLoad<T>(
    load: { readonly spec?: LoadSpec; readonly baseUrl: () => Promise<string>; readonly seconds: number; readonly label: string },
    fn: () => Promise<T>,
): Promise<T> {
    if (!load.spec) return fn();
    const running = startLoad(load.spec, await load.baseUrl(), load.seconds, load.label);
    try {
        return await fn();
    } finally {
        await running.stop();
    }
}

/** Where the load enters: the frontend on this host's loopback, or at a remote's own address, where its proxy device listens. */
export async function frontendBaseUrl(host: HaproxyHost, frontendPort: number): Promise<string> {
    const address = host.placement === "incus" && host.remote ? await serverAddress(haproxyTarget(host)) : undefined;
    return `http://${address ?? LOOPBACK}:${frontendPort}`;
}
