// A real ACME CA for the tests: pebble, the test server Let's Encrypt publishes (Debian's
// package), with pebble-challtestsrv as its DNS, which answers 127.0.0.1 for every name. So a
// real HTTP-01 challenge goes over loopback to `httpPort`, where HAProxy answers it.

import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";

export interface PebbleOptions {
    /** Four free loopback ports follow it: directory, management, DNS, and the unused TLS-ALPN port. */
    readonly basePort: number;
    /** Where the CA validates HTTP-01: the frontend's plain-HTTP listener. */
    readonly httpPort: number;
    /** Seconds a certificate is valid (pebble's certificateValidityPeriod). */
    readonly validitySeconds: number;
}

export class Pebble {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-pebble-"));
    readonly directory: string;
    /** PEM of pebble's own HTTPS certificate: a client trusts it with NODE_EXTRA_CA_CERTS=<caFile>. */
    readonly caFile = path.join(this.dir, "pebble-tls.pem");
    private readonly procs: ChildProcess[] = [];
    private readonly mgmt: string;

    constructor(private readonly o: PebbleOptions) {
        this.directory = `https://127.0.0.1:${o.basePort}/dir`;
        this.mgmt = `https://127.0.0.1:${o.basePort + 1}`;
    }

    async start(): Promise<void> {
        const key = path.join(this.dir, "pebble-tls.key");
        execFileSync(
            "openssl",
            [
                ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"],
                ...["-keyout", key, "-out", this.caFile, "-subj", "/CN=pebble", "-addext", "subjectAltName=IP:127.0.0.1"],
            ],
            { stdio: "ignore" },
        );
        const config = path.join(this.dir, "pebble.json");
        const p = this.o.basePort;
        fs.writeFileSync(
            config,
            JSON.stringify({
                pebble: {
                    listenAddress: `127.0.0.1:${p}`,
                    managementListenAddress: `127.0.0.1:${p + 1}`,
                    certificate: this.caFile,
                    privateKey: key,
                    httpPort: this.o.httpPort,
                    tlsPort: p + 3,
                    ocspResponderURL: "",
                    externalAccountBindingRequired: false,
                    certificateValidityPeriod: this.o.validitySeconds,
                },
            }),
        );
        const log = fs.openSync(path.join(this.dir, "pebble.log"), "a");
        this.procs.push(
            spawn(
                "pebble-challtestsrv",
                [
                    "-dns01",
                    `127.0.0.1:${p + 2}`,
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    "",
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-defaultIPv6",
                    "",
                ],
                { stdio: ["ignore", log, log] },
            ),
        );
        this.procs.push(
            spawn("pebble", ["-config", config, "-dnsserver", `127.0.0.1:${p + 2}`], {
                stdio: ["ignore", log, log],
                // No random 0-15 s sleep before a validation, and no nonce rejected on purpose.
                env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
            }),
        );
        for (let i = 0; i < 100; i++) {
            if (
                await this.get(this.directory).then(
                    () => true,
                    () => false,
                )
            )
                return;
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`pebble did not answer on ${this.directory}: ${this.log()}`);
    }

    /** The root that pebble's certificates chain to (it makes a new one at each start). */
    root(): Promise<string> {
        return this.get(`${this.mgmt}/roots/0`);
    }

    log(): string {
        try {
            return fs.readFileSync(path.join(this.dir, "pebble.log"), "utf8").slice(-4000);
        } catch {
            return "";
        }
    }

    async stop(): Promise<void> {
        for (const c of this.procs) if (c.exitCode === null && c.pid) c.kill("SIGTERM");
        await Promise.all(this.procs.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
        fs.rmSync(this.dir, { recursive: true, force: true });
    }

    private get(url: string): Promise<string> {
        const ca = fs.readFileSync(this.caFile);
        return new Promise((resolve, reject) => {
            const req = https.get(url, { ca, timeout: 2000 }, (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
            });
            req.on("error", reject);
            req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
        });
    }
}
