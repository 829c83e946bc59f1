import assert from "node:assert/strict";
import * as path from "path";
import {
    DEFAULT_CERTIFICATE,
    bundleProblems,
    certificateChanges,
    certificatePath,
    commitSslCertCommand,
    normalizePem,
    parseCertificates,
    parseShowSslCert,
    setSslCertCommand,
} from "../../../../components/model/edge/tls";
import { makeCa, makeLeaf } from "../../../helpers/certs";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const KEY = "bluegreen:tls.certificates";

describe("edge: tls.certificates", function () {
    this.timeout(60_000);
    let dir: string;
    let a: string;
    let b: string;
    before(() => {
        dir = makeTmp("edge-tls");
        const ca = makeCa(path.join(dir, "ca"));
        a = makeLeaf(ca, "a").bundle;
        b = makeLeaf(ca, "b").bundle;
    });
    after(() => removeTmp(dir));

    it("a JSON object of bundles by name, normalized for the CLI payload", () => {
        const r = parseCertificates(JSON.stringify({ site: a, api: b.replace(/\n/g, "\r\n\n") }));
        assert.deepEqual(r.problems, []);
        assert.deepEqual(Object.keys(r.bundles), ["site", "api"]);
        assert.equal(r.bundles.api, normalizePem(b));
        assert.ok(!/\n\n/.test(r.bundles.api) && !r.bundles.api.includes("\r") && r.bundles.api.endsWith("-----\n"));
    });

    it("one PEM bundle alone is the certificate named default", () => {
        assert.deepEqual(Object.keys(parseCertificates(a).bundles), [DEFAULT_CERTIFICATE]);
    });

    it("refuses a key that does not match, a missing key, bad names, and never shows a value", () => {
        const keyOfB = b.slice(b.indexOf("-----BEGIN EC PRIVATE KEY"));
        const certOfA = a.slice(0, a.indexOf("-----BEGIN EC PRIVATE KEY"));
        const r = parseCertificates(JSON.stringify({ mixed: certOfA + keyOfB, nokey: certOfA, Bad_Name: a, num: 3 }));
        assert.deepEqual(r.problems, [
            `${KEY}.mixed: the private key does not belong to the first certificate`,
            `${KEY}.nokey: expected one PRIVATE KEY block, found 0`,
            `${KEY}.Bad_Name: expected a name of lowercase letters, digits and single inner hyphens`,
            `${KEY}.num: expected a PEM bundle as a string`,
        ]);
        assert.deepEqual(r.bundles, {});
        const junk = parseCertificates("not json, not pem: hunter2");
        assert.equal(junk.problems.length, 1);
        assert.ok(!junk.problems[0].includes("hunter2"));
        assert.deepEqual(bundleProblems("hello " + a), ["expected PEM blocks only (-----BEGIN ...-----), the certificate chain and its private key"]);
        assert.deepEqual(parseCertificates("{}").problems, [`${KEY}: expected at least one certificate (or remove the key)`]);
    });

    it("files beside the stack's state; changes by name", () => {
        assert.equal(certificatePath({ stateDir: "/var/lib/app" }, "site"), "/var/lib/app/certs/site.pem");
        assert.deepEqual(certificateChanges({ a: "1", b: "2", c: "3" }, { a: "1", b: "9", d: "4" }), { added: ["d"], changed: ["b"], removed: ["c"] });
    });

    it("the runtime API's hot swap: a payload with no blank line, then a commit", () => {
        const cmd = setSslCertCommand("/s/certs/a.pem", a);
        assert.ok(cmd.startsWith("set ssl cert /s/certs/a.pem <<\n-----BEGIN CERTIFICATE-----\n"));
        assert.ok(!cmd.includes("\n\n") && cmd.endsWith("-----\n"));
        assert.equal(commitSslCertCommand("/s/certs/a.pem"), "commit ssl cert /s/certs/a.pem");
        assert.deepEqual(parseShowSslCert("# transaction\n# filename\n/s/certs/a.pem\n/s/certs/b.pem\n"), ["/s/certs/a.pem", "/s/certs/b.pem"]);
    });
});
