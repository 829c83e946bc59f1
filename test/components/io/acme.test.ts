import { strict as assert } from "assert";
import * as crypto from "crypto";
import { describeIssued, placeholderBundle } from "../../../components/io/acme";

describe("io/acme", () => {
    it("makes a placeholder bundle that the certificate checks accept, for the configured names, valid a day", async () => {
        const pem = await placeholderBundle(["app.example.com", "www.example.com"]);
        const cert = new crypto.X509Certificate(pem);
        assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(pem.slice(pem.indexOf("-----BEGIN PRIVATE KEY")))));
        assert.ok(cert.checkHost("www.example.com"));
        const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
        assert.ok(days > 0.9 && days <= 1, `valid ${days} days`);
        const issued = describeIssued(pem, { directory: "https://ca/dir", domains: ["app.example.com"] });
        assert.equal(issued.fingerprint, cert.fingerprint256);
        assert.equal(issued.serial, cert.serialNumber);
    });
});
