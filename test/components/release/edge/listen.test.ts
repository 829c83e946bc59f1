import assert from "node:assert/strict";
import { loadConfig } from "../../../../components/model/config";
import { proxyDevice } from "../../../../components/io/incus";
import { certificatesInputs, edgeOf, haproxyInputs, switchInputs } from "../../../../components/plan";
import { instanceProxies } from "../../../../components/release/traffic/haproxy";
import { listenerProxies } from "../../../../components/release/edge/listen";
import { stackConfig } from "../../../helpers/stackConfig";

const LISTEN = [
    { address: "0.0.0.0", port: 8080, redirect: "https" },
    { address: "0.0.0.0", port: 8443, tls: true },
];

describe("edge: wiring", () => {
    it("incus: each listener is a proxy device with the PROXY protocol to HAProxy's loopback port", () => {
        const devices = listenerProxies([{ address: "0.0.0.0", port: 8443, tls: true }]);
        assert.deepEqual(Object.fromEntries(Object.entries(devices).map(([k, p]) => [k, proxyDevice(p)])), {
            "edge-8443": { type: "proxy", listen: "tcp:0.0.0.0:8443", connect: "tcp:127.0.0.1:8443", proxy_protocol: "true" },
        });
    });

    it("the HAProxy instance gets them beside its own devices; host placement and stacks without listen get nothing new", () => {
        const incus = stackConfig({ haproxy: { placement: "incus", frontendPort: 18100, exporterPort: 18101, listen: LISTEN } });
        const i = haproxyInputs(incus);
        assert.deepEqual(i.listen, [
            { address: "0.0.0.0", port: 8080, tls: false, redirect: "https" },
            { address: "0.0.0.0", port: 8443, tls: true },
        ]);
        assert.deepEqual(
            Object.keys(instanceProxies(i)).filter((d) => d.startsWith("edge-")),
            ["edge-8080", "edge-8443"],
        );
        assert.equal("listen" in haproxyInputs(stackConfig({ haproxy: { frontendPort: 18100, exporterPort: 18101, listen: LISTEN } })), false);
        assert.equal("listen" in haproxyInputs(stackConfig()), false);
        assert.equal("edge" in switchInputs(stackConfig()), false);
    });

    it("the switch renders the listeners with the certificate files; the bundles go to the Certificates resource", () => {
        const base = stackConfig({ haproxy: { placement: "incus", frontendPort: 18100, exporterPort: 18101, listen: LISTEN } });
        const c = { ...base, tlsCertificates: ["api", "site"] };
        assert.deepEqual(edgeOf(c)?.certificates, ["/var/lib/bluegreen/certs/api.pem", "/var/lib/bluegreen/certs/site.pem"]);
        assert.equal(edgeOf(c)?.proxyProtocol, true);
        assert.deepEqual(switchInputs(c).edge, edgeOf(c));
        assert.deepEqual(certificatesInputs(c), { stack: "dev", host: haproxyInputs(c).host, layout: haproxyInputs(c).layout });
        assert.equal(certificatesInputs(base), undefined);
    });

    describe("loadConfig", () => {
        const all = (over: Record<string, string> = {}) => ({
            "bluegreen:active": "blue",
            "bluegreen:colors": JSON.stringify({ blue: { release: "abc1234" } }),
            "bluegreen:haproxy": JSON.stringify({ frontendPort: 18100, exporterPort: 18101, listen: [{ address: "0.0.0.0", port: 8443, tls: true }] }),
            ...over,
        });
        const problems = (a: Record<string, string>, secret: (k: string) => boolean) => {
            try {
                loadConfig(a, secret, "dev");
            } catch (e) {
                return (e as { problems: string[] }).problems;
            }
            assert.fail("accepted");
        };

        it("a TLS listener without certificates is refused with the command that sets them", () => {
            assert.deepEqual(
                problems(all(), () => false),
                [
                    "bluegreen:haproxy.listen[0]: tls: true needs certificates; set them with `pulumi config set --secret bluegreen:tls.certificates < bundle.pem` (certificate chain and key, PEM), or order them with bluegreen:tls.acme",
                ],
            );
        });

        it("tls.certificates must be a secret, and its problems never show it", () => {
            const p = problems(all({ "bluegreen:tls.certificates": "-----BEGIN CERTIFICATE-----\nc2VjcmV0\n-----END CERTIFICATE-----" }), () => false);
            assert.deepEqual(p, [
                "bluegreen:tls.certificates: expected a secret; set it with `pulumi config set --secret bluegreen:tls.certificates < bundle.pem` (and remove the plain value)",
            ]);
            const q = problems(all({ "bluegreen:tls.certificates": "-----BEGIN CERTIFICATE-----\nc2VjcmV0\n-----END CERTIFICATE-----" }), () => true);
            assert.deepEqual(q, ["bluegreen:tls.certificates.default: expected one PRIVATE KEY block, found 0"]);
            assert.ok(!q.join("").includes("c2VjcmV0"));
        });
    });
});
