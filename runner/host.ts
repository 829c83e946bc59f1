// Pulumi's dynamic-provider host (@pulumi/pulumi/cmd/dynamic-provider), driven over gRPC
// the way the engine drives a resource provider plugin (sdk/go/common/resource/plugin/
// provider_plugin.go): its own process group, the port read from its first stdout line,
// Configure first, then Check/Diff/Create/Update/Delete/Read with the engine's fields.
// Partial failures come back in `grpc-status-details-bin` (ErrorResourceInitFailed).

import { ChildProcess, spawn } from "child_process";
import { createRequire } from "module";
import * as path from "path";
import * as readline from "readline";
import * as zlib from "zlib";
import { installCompileCache, installedCompileCache } from "./compileCache";
import { installLazyModules, sdkDir } from "./lazyModules";

// The SDK's own copies, so messages and the gRPC library match the host's.
const sdkRequire = createRequire(require.resolve("@pulumi/pulumi/package.json"));

const grpc = sdkRequire("@grpc/grpc-js");
const provproto = sdkRequire("./proto/provider_pb");
const provrpc = sdkRequire("./proto/provider_grpc_pb");
const statusproto = sdkRequire("./proto/status_pb");
const structproto = sdkRequire("google-protobuf/google/protobuf/struct_pb");

/**
 * A partial failure carries its properties, `__provider` included, in one trailer,
 * `grpc-status-details-bin`, often over 64 KiB. The engine's client (grpc-go) takes up to
 * 16 MiB, but Node's HTTP/2 stack (nghttp2) cannot decode a single header value over 64 KiB,
 * whatever the settings say, and the call just hangs. So in the runner's host only, the
 * value is sent as several values of the same key, which gRPC allows and the runner joins
 * back: transport only, the engine-facing host is unchanged. Sent as source to the host,
 * so no TypeScript-only syntax in the body.
 */
export function splitStatusDetails(req: NodeRequire, chunkBytes: number): void {
    const grpc = req("@grpc/grpc-js");
    const zlib = req("zlib");
    const proto = grpc.Metadata.prototype;
    if (proto.bluegreenSplit) return;
    const add = proto.add;
    proto.bluegreenSplit = true;
    proto.add = function (this: unknown, key: string, value: unknown) {
        if (key !== "grpc-status-details-bin" || !Buffer.isBuffer(value) || value.length <= chunkBytes) return add.call(this, key, value);
        // Gzip'd too (statusDetailsBytes undoes it): Node takes at most 8 CONTINUATION frames of 16 KiB after
        // a HEADERS frame, and refused a container's trailer of about 150 KB ("Too many CONTINUATION frames").
        const packed = Buffer.concat([Buffer.from("bluegreen-gzip:"), zlib.gzipSync(value)]);
        for (let at = 0; at < packed.length; at += chunkBytes) add.call(this, key, packed.subarray(at, at + chunkBytes));
    };
}

/** Pure: the status details as the host sent them, whole again (see splitStatusDetails). */
export function statusDetailsBytes(parts: readonly Buffer[]): Buffer | undefined {
    if (parts.length === 0) return undefined;
    const bin = Buffer.concat(parts);
    const mark = Buffer.from("bluegreen-gzip:");
    return bin.subarray(0, mark.length).equals(mark) ? zlib.gunzipSync(bin.subarray(mark.length)) : bin;
}

/**
 * Every call carries each resource's provider code (about 110 KB) two or three times, and
 * google-protobuf encodes a string one byte at a time into a JS array: 1.5 ms per copy,
 * 130 ms of a fast rollback. A long string goes out as the same length-delimited field
 * from one Buffer instead: the same bytes on the wire (wire type 2 either way), so the
 * host and the engine see no difference. Only for well-formed text: google-protobuf
 * encodes a lone surrogate its own way. Sent as source to the host, so no TypeScript-only
 * syntax in the body.
 */
export function fastLongStrings(req: NodeRequire, minLength: number): void {
    const Writer = req("google-protobuf").BinaryWriter;
    const proto = Writer.prototype;
    if (proto.bluegreenFast) return;
    const writeString = proto.writeString;
    proto.bluegreenFast = true;
    proto.bluegreenWriteString = writeString; // for the test that compares the bytes
    proto.writeString = function (this: { writeBytes(f: number, b: Uint8Array): void }, field: number, value: unknown) {
        if (typeof value !== "string" || value.length < minLength || !(value as unknown as { isWellFormed(): boolean }).isWellFormed())
            return writeString.call(this, field, value);
        this.writeBytes(field, Buffer.from(value, "utf8"));
    };
}

const FAST_STRING_MIN = 4096;
fastLongStrings(sdkRequire, FAST_STRING_MIN);

/**
 * Raw bytes per value: base64 makes it 43 KiB, well under nghttp2's 64 KiB. A multiple of 3,
 * so no value but the last is padded: grpc-js joins the values of a `grpc-` key with ", " and
 * decodes the whole, and Node's base64 decoder skips the separators but stops at padding.
 */
const STATUS_DETAILS_CHUNK = 3 * 10_923;

/**
 * And the whole header list: Node announces 64 KiB and resets a larger one; grpc-go, the
 * engine's client, takes 16 MiB. grpc-js has no option for it, so the runner's sessions
 * announce what the engine's do.
 */
const ENGINE_MAX_HEADER_LIST = 16 * 1024 * 1024;
{
    const http2 = require("http2") as typeof import("http2");
    const connect = http2.connect as typeof http2.connect & { bluegreen?: boolean };
    if (!connect.bluegreen) {
        const patched = ((authority: unknown, options?: Record<string, any>, listener?: unknown) =>
            (connect as any)(
                authority,
                { ...(options ?? {}), settings: { ...(options?.settings ?? {}), maxHeaderListSize: ENGINE_MAX_HEADER_LIST } },
                listener,
            )) as unknown as typeof connect;
        patched.bluegreen = true;
        http2.connect = patched;
    }
}

export const HOST_SCRIPT = sdkRequire.resolve("./cmd/dynamic-provider/index.js");
/** The host needs an engine address argument but never dials it (see its main()). */
const ENGINE_PLACEHOLDER = "127.0.0.1:0";
// Loading the SDK takes about 1 s idle; on a busy 2-core machine (wrk and a second suite) it was measured past 30 s.
const START_TIMEOUT_MS = 120_000;

type Props = Record<string, unknown>;

export interface InitFailure {
    readonly id: string;
    readonly properties: Props;
    readonly inputs?: Props;
    readonly reasons: string[];
}

/** A failed provider call: the host's message, and the partial state of an initialization failure. */
export class ProviderError extends Error {
    constructor(
        message: string,
        readonly initFailure?: InitFailure,
    ) {
        super(message);
        this.name = "ProviderError";
    }
}

export interface CheckResult {
    readonly inputs: Props;
    readonly failures: { property: string; reason: string }[];
}

export type DiffChanges = "some" | "none" | "unknown";

export interface DiffResult {
    readonly changes: DiffChanges;
    readonly replaces: string[];
    readonly deleteBeforeReplace: boolean;
    /** Keys the provider says changed (`diffs`); the dynamic host never sets them. */
    readonly changedKeys: string[];
}

export interface ReadResult {
    readonly id: string;
    readonly properties: Props;
    readonly inputs?: Props;
}

/** What a resource's provider does: the engine's view of a plugin. */
export interface Provider {
    check(urn: string, olds: Props, news: Props): Promise<CheckResult>;
    diff(urn: string, id: string, oldInputs: Props, oldOutputs: Props, news: Props, ignoreChanges: string[]): Promise<DiffResult>;
    create(urn: string, properties: Props, timeoutSec: number): Promise<{ id: string; properties: Props }>;
    update(
        urn: string,
        id: string,
        oldOutputs: Props,
        news: Props,
        oldInputs: Props,
        ignoreChanges: string[],
        timeoutSec: number,
    ): Promise<{ properties: Props }>;
    delete(urn: string, id: string, oldOutputs: Props, oldInputs: Props, timeoutSec: number): Promise<void>;
    read(urn: string, id: string, state: Props, inputs: Props | undefined): Promise<ReadResult>;
}

function nameOf(urn: string): string {
    return urn.split("::").pop() ?? "";
}

function typeOf(urn: string): string {
    return (urn.split("::")[2] ?? "").split("$").pop() ?? "";
}

const toStruct = (o: Props) => structproto.Struct.fromJavaScript(o);
const fromStruct = (s: { toJavaScript(): Props } | undefined): Props | undefined => (s ? s.toJavaScript() : undefined);

/** Pure: the ErrorResourceInitFailed packed in a gRPC error's status details, if any. */
export function initFailureFromStatusDetails(bin: Buffer | undefined): InitFailure | undefined {
    if (!bin) return undefined;
    const status = statusproto.Status.deserializeBinary(new Uint8Array(bin));
    for (const any of status.getDetailsList()) {
        if (!String(any.getTypeUrl()).endsWith("pulumirpc.ErrorResourceInitFailed")) continue;
        const d = provproto.ErrorResourceInitFailed.deserializeBinary(any.getValue_asU8());
        return { id: d.getId(), properties: fromStruct(d.getProperties()) ?? {}, inputs: fromStruct(d.getInputs()), reasons: d.getReasonsList() };
    }
    return undefined;
}

function providerError(e: { message?: string; details?: string; metadata?: { get(k: string): (string | Buffer)[] } }): ProviderError {
    // One value, or several when the host split it (see splitStatusDetails).
    const parts = (e.metadata?.get("grpc-status-details-bin") ?? []).filter((b): b is Buffer => Buffer.isBuffer(b));
    const message = e.details || e.message || String(e);
    return new ProviderError(message, initFailureFromStatusDetails(statusDetailsBytes(parts)));
}

export interface HostOptions {
    readonly project: string;
    readonly stack: string;
    readonly cwd: string;
    /** Lines the host writes after its port (provider logs and progress). */
    readonly log: (line: string) => void;
}

/** One dynamic-provider host process, as the engine runs one plugin per provider. */
export class ProviderHost implements Provider {
    private constructor(
        private readonly child: ChildProcess,
        private readonly client: any,
        readonly startedMs: number,
    ) {}

    /** Spawns the host in its own process group, reads its port, connects and configures it. */
    static async start(o: HostOptions): Promise<ProviderHost> {
        const t0 = Date.now();
        const env = { ...process.env };
        // The host must not think it talks to an engine or a monitor of ours.
        for (const k of Object.keys(env)) if (k.startsWith("PULUMI_NODEJS_")) delete env[k];
        // The guard ends the host when the runner is gone (its stdin pipe closes), so a killed
        // runner leaves no gRPC server behind; SIGINT to the runner's group never reaches it.
        // The runner's own code cache, when it has one (scripts/local.js installs it).
        const cacheDir = installedCompileCache();
        const guard =
            "data:text/javascript," +
            encodeURIComponent(
                "process.stdin.on('end',()=>process.exit(0));process.stdin.on('error',()=>process.exit(0));process.stdin.resume();" +
                    `import { createRequire } from "module"; const req = createRequire(${JSON.stringify(HOST_SCRIPT)});` +
                    (cacheDir !== undefined ? `(${installCompileCache.toString()})(req, ${JSON.stringify(cacheDir)});` : "") +
                    `(${installLazyModules.toString()})(req, ${JSON.stringify(sdkDir())}, true);` +
                    `(${splitStatusDetails.toString()})(req, ${STATUS_DETAILS_CHUNK});` +
                    `(${fastLongStrings.toString()})(req, ${FAST_STRING_MIN});`,
            );
        const child = spawn(process.execPath, ["--import", guard, HOST_SCRIPT, ENGINE_PLACEHOLDER], {
            cwd: o.cwd,
            env,
            detached: true,
            stdio: ["pipe", "pipe", "pipe"],
        });
        const port = await new Promise<number>((resolve, reject) => {
            const timer = setTimeout(
                () => reject(new Error(`the dynamic-provider host did not print its port within ${START_TIMEOUT_MS} ms`)),
                START_TIMEOUT_MS,
            );
            let seen = false;
            const out = readline.createInterface({ input: child.stdout! });
            out.on("line", (line) => {
                if (seen) return o.log(line);
                seen = true;
                clearTimeout(timer);
                const p = Number(line.trim());
                if (Number.isInteger(p) && p > 0 && p < 65536) resolve(p);
                else reject(new Error(`the dynamic-provider host printed ${JSON.stringify(line)} instead of its port`));
            });
            readline.createInterface({ input: child.stderr! }).on("line", (line) => {
                if (/^\s+at /.test(line)) return; // the host prints stacks of failed calls; the message is reported anyway
                o.log(line);
            });
            child.on("error", (e) => {
                clearTimeout(timer);
                reject(new Error(`cannot start the dynamic-provider host (${HOST_SCRIPT}): ${e.message}`));
            });
            child.on("exit", (code, signal) => {
                clearTimeout(timer);
                if (!seen) reject(new Error(`the dynamic-provider host exited (${signal ?? code}) before printing its port`));
            });
        });
        // Idle, the host must not keep the runner alive: the runner ends it when done.
        child.unref();
        for (const s of [child.stdout, child.stderr, child.stdin] as unknown as { unref?(): void }[]) s?.unref?.();
        const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        const host = new ProviderHost(child, client, 0);
        await host.configure(o.project, o.stack);
        (host as { startedMs: number }).startedMs = Date.now() - t0;
        return host;
    }

    /** BLUEGREEN_COUNT_BYTES=1: request bytes sent to the host and calls made, printed when it closes (bench/scale.ts). */
    private sent = process.env.BLUEGREEN_COUNT_BYTES ? { bytes: 0, calls: 0 } : undefined;

    private call<T>(method: string, req: unknown): Promise<T> {
        if (this.sent) {
            this.sent.bytes += (req as { serializeBinary(): Uint8Array }).serializeBinary().length;
            this.sent.calls++;
        }
        // A call in flight must keep the runner alive: gRPC's socket does not, and when every
        // other step has finished (one failed, the rest skipped) the event loop would drain
        // while a create is still waiting on its health checks.
        const alive = setInterval(() => undefined, 60_000);
        return new Promise<T>((resolve, reject) => {
            this.client[method](req, (err: any, resp: T) => (err ? reject(providerError(err)) : resolve(resp)));
        }).finally(() => clearInterval(alive));
    }

    private async configure(project: string, stack: string): Promise<void> {
        const req = new provproto.ConfigureRequest();
        req.setArgs(toStruct({}));
        req.setAcceptsecrets(true);
        req.setAcceptresources(true);
        req.setSendsOldInputs(true);
        req.setSendsOldInputsToDelete(true);
        req.setType("pulumi:providers:pulumi-nodejs");
        req.setName("default");
        req.setUrn(`urn:pulumi:${stack}::${project}::pulumi:providers:pulumi-nodejs::default`);
        const resp = await this.call<any>("configure", req);
        // acceptSecrets false (as the host answers): the engine sends plaintext and re-marks outputs.
        if (resp.getAcceptsecrets()) throw new Error("the dynamic-provider host unexpectedly accepts secrets; the runner would send them in plaintext");
    }

    private base<T extends { setUrn(u: string): void; setName(n: string): void; setType(t: string): void }>(req: T, urn: string): T {
        req.setUrn(urn);
        req.setName(nameOf(urn));
        req.setType(typeOf(urn));
        return req;
    }

    async check(urn: string, olds: Props, news: Props): Promise<CheckResult> {
        const req = this.base(new provproto.CheckRequest(), urn);
        req.setOlds(toStruct(olds));
        req.setNews(toStruct(news));
        req.setRandomseed(new Uint8Array(require("crypto").randomBytes(32)));
        const resp = await this.call<any>("check", req);
        return {
            inputs: fromStruct(resp.getInputs()) ?? news,
            failures: resp.getFailuresList().map((f: any) => ({ property: f.getProperty(), reason: f.getReason() })),
        };
    }

    async diff(urn: string, id: string, oldInputs: Props, oldOutputs: Props, news: Props, ignoreChanges: string[]): Promise<DiffResult> {
        const req = this.base(new provproto.DiffRequest(), urn);
        req.setId(id);
        req.setOldInputs(toStruct(oldInputs));
        req.setOlds(toStruct(oldOutputs));
        req.setNews(toStruct(news));
        req.setIgnorechangesList(ignoreChanges);
        const resp = await this.call<any>("diff", req);
        const C = provproto.DiffResponse.DiffChanges;
        const c = resp.getChanges();
        return {
            changes: c === C.DIFF_SOME ? "some" : c === C.DIFF_NONE ? "none" : "unknown",
            replaces: resp.getReplacesList(),
            deleteBeforeReplace: resp.getDeletebeforereplace(),
            changedKeys: resp.getDiffsList(),
        };
    }

    async create(urn: string, properties: Props, timeoutSec: number): Promise<{ id: string; properties: Props }> {
        const req = this.base(new provproto.CreateRequest(), urn);
        req.setProperties(toStruct(properties));
        req.setTimeout(timeoutSec);
        req.setPreview(false);
        const resp = await this.call<any>("create", req);
        return { id: resp.getId(), properties: fromStruct(resp.getProperties()) ?? {} };
    }

    async update(
        urn: string,
        id: string,
        oldOutputs: Props,
        news: Props,
        oldInputs: Props,
        ignoreChanges: string[],
        timeoutSec: number,
    ): Promise<{ properties: Props }> {
        const req = this.base(new provproto.UpdateRequest(), urn);
        req.setId(id);
        req.setOlds(toStruct(oldOutputs));
        req.setNews(toStruct(news));
        req.setOldInputs(toStruct(oldInputs));
        req.setIgnorechangesList(ignoreChanges);
        req.setTimeout(timeoutSec);
        req.setPreview(false);
        const resp = await this.call<any>("update", req);
        return { properties: fromStruct(resp.getProperties()) ?? {} };
    }

    async delete(urn: string, id: string, oldOutputs: Props, oldInputs: Props, timeoutSec: number): Promise<void> {
        const req = this.base(new provproto.DeleteRequest(), urn);
        req.setId(id);
        req.setProperties(toStruct(oldOutputs));
        req.setOldInputs(toStruct(oldInputs));
        req.setTimeout(timeoutSec);
        await this.call<unknown>("delete", req);
    }

    async read(urn: string, id: string, state: Props, inputs: Props | undefined): Promise<ReadResult> {
        const req = this.base(new provproto.ReadRequest(), urn);
        req.setId(id);
        req.setProperties(toStruct(state));
        if (inputs) req.setInputs(toStruct(inputs));
        const resp = await this.call<any>("read", req);
        return { id: resp.getId(), properties: fromStruct(resp.getProperties()) ?? {}, inputs: fromStruct(resp.getInputs()) };
    }

    /**
     * Ends the host, as the engine kills a plugin when the deployment is done. Resolves once
     * what it wrote is read: a progress line written just before its last answer could still
     * be in the pipe, and the runner exits right after. Bounded: a second at most.
     */
    async close(): Promise<void> {
        if (this.sent) process.stderr.write(`[host] ${this.sent.bytes} bytes sent in ${this.sent.calls} calls\n`);
        this.sent = undefined;
        this.client.close();
        const drained = Promise.all(
            [this.child.stdout, this.child.stderr].map((s) => (s && !s.readableEnded ? new Promise<void>((r) => s.once("close", () => r())) : undefined)),
        );
        try {
            if (this.child.pid) process.kill(-this.child.pid, "SIGKILL");
        } catch {
            // already gone
        }
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
        clearTimeout(timer);
    }
}

/** For messages: where the host lives. */
export function hostDescription(): string {
    return path.relative(process.cwd(), HOST_SCRIPT);
}
