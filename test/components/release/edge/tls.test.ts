// The certificates on the HAProxy host (host placement) with a real haproxy: files 0600, a
// changed bundle hot-swapped over the admin socket (new handshakes get it, same process),
// and a removed bundle's file kept while the live config still loads it.

import assert from "node:assert/strict";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import * as tls from "tls";
import { applyCertificates, certificatesPresent, CertificatesInputs } from "../../../../components/release/edge/tls";
import { certificatePath, parseCertificates } from "../../../../components/model/edge/tls";
import { haproxyLayout } from "../../../../components/model/naming";
import { makeCa, makeLeaf, TestCa } from "../../../helpers/certs";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

async function freePort(): Promise<number> {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    return port;
}

/** The serial of the certificate served on a new TLS handshake, verified against `ca`. */
function servedSerial(port: number, ca: TestCa): Promise<string> {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host: "127.0.0.1", port, ca: ca.cert, servername: "localhost" }, () => {
            const serial = s.getPeerCertificate().serialNumber;
            s.destroy();
            resolve(serial);
        });
        s.on("error", reject);
    });
}

describe("edge: certificates on the HAProxy host (real haproxy)", function () {
    this.timeout(60_000);
    let dir: string;
    let haproxy: ChildProcess | undefined;
    after(() => {
        if (haproxy?.pid && haproxy.exitCode === null) process.kill(haproxy.pid, "SIGKILL");
        removeTmp(dir);
    });

    it("writes 0600 files, hot-swaps a changed one in the running haproxy, keeps a removed one the config loads", async () => {
        dir = makeTmp("edge-tls-host");
        const ca = makeCa(path.join(dir, "ca"));
        const [a, b] = [makeLeaf(ca, "a"), makeLeaf(ca, "b")];
        const layout = haproxyLayout("host", "app", "dev", path.join(dir, "state"));
        const inputs = (bundle: string, name = "site"): CertificatesInputs => ({
            stack: "dev",
            host: { placement: "host" },
            layout,
            certificates: parseCertificates(JSON.stringify({ [name]: bundle })).bundles,
        });
        const first = await applyCertificates(undefined, inputs(a.bundle));
        assert.deepEqual(first, { written: ["site"], swapped: [], removed: [], kept: [] });
        const file = certificatePath(layout, "site");
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);

        const port = await freePort();
        fs.writeFileSync(
            layout.configPath,
            [
                "global",
                `    stats socket ${layout.adminSocket} mode 600 level admin`,
                "defaults",
                "    mode http",
                "    timeout connect 1s",
                "    timeout client 5s",
                "    timeout server 5s",
                "frontend fe_main",
                `    bind 127.0.0.1:${port} ssl crt ${file}`,
                '    http-request return status 200 content-type text/plain string "ok"',
                "",
            ].join("\n"),
        );
        haproxy = spawn("haproxy", ["-f", layout.configPath], { stdio: "ignore" });
        for (let i = 0; i < 100 && !fs.existsSync(layout.adminSocket); i++) await new Promise((r) => setTimeout(r, 50));
        assert.equal(await servedSerial(port, ca), a.serial);

        const swap = await applyCertificates(inputs(a.bundle).certificates, inputs(b.bundle));
        assert.deepEqual(swap.swapped, ["site"]);
        assert.equal(await servedSerial(port, ca), b.serial, "served from memory: no reload, no restart");
        assert.equal(haproxy.exitCode, null);
        assert.equal(fs.readFileSync(file, "utf8"), inputs(b.bundle).certificates.site);

        const removed = await applyCertificates(inputs(b.bundle).certificates, inputs(a.bundle, "other"));
        assert.deepEqual(removed.kept, ["site"], "the live config still loads it");
        assert.ok(fs.existsSync(file));
        fs.writeFileSync(layout.configPath, "global\n");
        const later = await applyCertificates(inputs(a.bundle, "other").certificates, inputs(a.bundle, "other"), removed.kept);
        assert.deepEqual(later.removed, ["site"]);
        assert.equal(fs.existsSync(file), false);
        // A host that lost the files (a rebuilt instance) makes the next up write them again.
        assert.equal(await certificatesPresent(inputs(a.bundle, "other")), true);
        fs.rmSync(certificatePath(layout, "other"));
        assert.equal(await certificatesPresent(inputs(a.bundle, "other")), false);
    });
});
