// Throwaway certificates made with openssl: a CA, and leaves for localhost it signs.

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

function openssl(args: readonly string[], cwd: string): void {
    const r = spawnSync("openssl", args, { cwd, encoding: "utf8", timeout: 30_000 });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

export interface TestCa {
    readonly dir: string;
    /** The CA's certificate, PEM: what a client trusts. */
    readonly cert: string;
    readonly certFile: string;
}

/** A new CA in `dir` (EC P-256: fast). */
export function makeCa(dir: string, name = "bluegreen test CA"): TestCa {
    fs.mkdirSync(dir, { recursive: true });
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
    openssl(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", `/CN=${name}`, "-out", "ca.pem"], dir);
    const certFile = path.join(dir, "ca.pem");
    return { dir, cert: fs.readFileSync(certFile, "utf8"), certFile };
}

/** A leaf for localhost and 127.0.0.1 signed by `ca`: its PEM bundle (certificate, CA, key) and serial. */
export function makeLeaf(ca: TestCa, name: string): { bundle: string; serial: string } {
    const d = ca.dir;
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], d);
    openssl(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=localhost`, "-out", `${name}.csr`], d);
    fs.writeFileSync(path.join(d, `${name}.ext`), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
    openssl(
        ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-sha256"].concat([
            "-extfile",
            `${name}.ext`,
            "-out",
            `${name}.pem`,
        ]),
        d,
    );
    const r = spawnSync("openssl", ["x509", "-in", `${name}.pem`, "-noout", "-serial"], { cwd: d, encoding: "utf8" });
    const serial = r.stdout.trim().replace(/^serial=/, "");
    const bundle = [fs.readFileSync(path.join(d, `${name}.pem`), "utf8"), ca.cert, fs.readFileSync(path.join(d, `${name}.key`), "utf8")].join("");
    return { bundle, serial };
}
