import { strict as assert } from "assert";
import {
    acmeProblems,
    acmeSpec,
    addChallengeCommand,
    challengeRule,
    delChallengeCommand,
    describeCertificate,
    renewalReason,
} from "../../../../components/model/edge/acme";

const acme = acmeSpec.parse({ directory: "https://127.0.0.1:14000/dir", email: "ops@example.com", domains: ["app.example.com"] });
const issued = { domains: ["app.example.com"], directory: acme.directory, notAfter: "2027-03-01T00:00:00.000Z", serial: "0a", fingerprint: "AA" };

describe("model/edge/acme", () => {
    it("defaults renewBeforeDays to 30 and refuses what is not a domain, an https directory or an email", () => {
        assert.equal(acme.renewBeforeDays, 30);
        const bad = acmeSpec.safeParse({ directory: "http://ca/dir", email: "nope", domains: ["Not A Domain"] });
        assert.ok(!bad.success);
        const paths = bad.error.issues.map((i) => i.path.join("."));
        assert.deepEqual(paths.sort(), ["directory", "domains.0", "email"]);
    });

    it("refuses a wildcard (HTTP-01 cannot prove it) and a domain listed twice, naming the index", () => {
        const a = acmeSpec.parse({ ...acme, domains: ["*.example.com", "a.example.com", "a.example.com"] });
        const p = acmeProblems(a);
        assert.equal(p.length, 2);
        assert.match(p[0], /tls\.acme\.domains\[0\]: a wildcard needs DNS-01/);
        assert.match(p[1], /tls\.acme\.domains\[2\]: a\.example\.com is listed twice/);
    });

    it("renews with no certificate, a new CA or new domains, and under 30 days left; not otherwise", () => {
        assert.equal(renewalReason(undefined, acme, new Date("2027-01-01")), "no certificate yet");
        assert.equal(renewalReason(issued, acme, new Date("2027-01-01")), undefined);
        assert.match(renewalReason(issued, acme, new Date("2027-02-01T00:00:01Z")) ?? "", /^27 day\(s\) left, under 30$/);
        assert.match(renewalReason(issued, acme, new Date("2027-03-03")) ?? "", /expired 2 day/);
        assert.match(renewalReason(issued, { ...acme, domains: ["b.example.com"] }, new Date("2027-01-01")) ?? "", /domains changed/);
        assert.match(renewalReason(issued, { ...acme, directory: "https://other/dir" }, new Date("2027-01-01")) ?? "", /CA changed/);
        assert.equal(renewalReason(issued, { ...acme, renewBeforeDays: 60 }, new Date("2027-01-15")) !== undefined, true);
    });

    it("describes a certificate for status", () => {
        assert.equal(describeCertificate(issued, new Date("2027-01-30T00:00:00Z")), "app.example.com: expires 2027-03-01 (30 days left), serial 0a");
    });

    it("answers a held token from the map before any routing, and only that", () => {
        assert.equal(
            challengeRule("/run/s/acme-challenges.map"),
            "http-request return status 200 content-type text/plain lf-string %[path,field(4,/),map(/run/s/acme-challenges.map)] " +
                "if { path_beg /.well-known/acme-challenge/ } { path,field(4,/),map(/run/s/acme-challenges.map) -m found }",
        );
    });

    it("builds the runtime API commands, refusing anything that is not base64url", () => {
        const token = "lcfn1jVkkpPR-O53Flz6CiaFhqe7J8veSiGwRNh67V0";
        assert.equal(addChallengeCommand("/m", token, `${token}.thumb_print-0123456789`), `add map /m ${token} ${token}.thumb_print-0123456789`);
        assert.equal(delChallengeCommand("/m", token), `del map /m ${token}`);
        assert.throws(() => addChallengeCommand("/m", "abc def; shutdown sessions", "x.y"), /not base64url/);
        assert.throws(() => delChallengeCommand("/m", `${token}\nshow map`), /not base64url/);
    });
});
