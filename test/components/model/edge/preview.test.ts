import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ConfigError } from "../../../../components/model/config";
import { previewAcls, previewUrl } from "../../../../components/model/edge/preview";
import { configShape, configWeights, renderConfig, renderReleasesMap } from "../../../../components/model/traffic/haproxyConfig";
import { switchInputs } from "../../../../components/plan";
import { modelOf } from "../../../../components/release/traffic/switch";
import { stackConfig } from "../../../helpers/stackConfig";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const problemsOf = (f: () => unknown) => {
    try {
        f();
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return [...e.problems];
    }
    return assert.fail("accepted");
};

const PREVIEW = { header: "x-preview", cookie: "bg_preview" };
const comps = {
    api: { hostPort: 18110, route: "/api" },
    web: { hostPort: 18130, route: "/", nodes: 2 },
};
const render = (over: Record<string, unknown>, dir = "/tmp") =>
    renderConfig({
        ...modelOf(switchInputs(stackConfig({ components: comps, preview: PREVIEW, ...over }))),
        adminSocket: path.join(dir, "admin.sock"),
        pidFile: path.join(dir, "haproxy.pid"),
        serverStateFile: path.join(dir, "server-state"),
        releasesMap: path.join(dir, "releases.map"),
        probeMap: path.join(dir, "maintenance.map"),
    });

describe("edge preview", () => {
    it("config: refuses an empty preview, a bad header name, a port taken or on an HAProxy instance", () => {
        assert.deepEqual(
            problemsOf(() => stackConfig({ preview: {} })),
            ["bluegreen:preview: expected at least one of host, header, cookie or port"],
        );
        assert.deepEqual(
            problemsOf(() => stackConfig({ preview: { header: "x preview" } })),
            ["bluegreen:preview.header: expected a header name of letters, digits, _ and - (up to 64)"],
        );
        assert.deepEqual(
            problemsOf(() => stackConfig({ preview: { port: 18100 } })),
            ["bluegreen:preview.port: port 18100 is already used by bluegreen:haproxy.frontendPort; every loopback port must be distinct"],
        );
        assert.deepEqual(
            problemsOf(() => stackConfig({ preview: { port: 18200 }, haproxy: { frontendPort: 18100, exporterPort: 18101, placement: "incus" } })),
            ["bluegreen:preview.port: a preview port is not forwarded into the HAProxy instance yet; use preview.header, preview.cookie or preview.host"],
        );
        assert.deepEqual(stackConfig({ preview: PREVIEW }).preview, PREVIEW);
    });

    it("acls: any of host, header, cookie or port marks a preview request", () => {
        assert.deepEqual(previewAcls({ host: "preview.example.com", header: "x-preview", cookie: "pv", port: 18200 }), [
            "acl bg_preview hdr(host),field(1,:) -m str -i preview.example.com",
            "acl bg_preview req.hdr(x-preview) -m found",
            "acl bg_preview req.cook(pv) -m found",
            "acl bg_preview dst_port 18200",
        ]);
    });

    it("renders preview rules before the others, to backends of the idle color's servers only, unweighted; HAProxy accepts it", () => {
        const dir = makeTmp("edge-preview");
        try {
            fs.writeFileSync(path.join(dir, "releases.map"), renderReleasesMap({ blue: "abc1234" }));
            fs.writeFileSync(path.join(dir, "maintenance.map"), "enabled off\n");
            const text = render({}, dir);
            const fe = text.split("\n");
            const rules = fe.filter((l) => l.includes("use_backend")).map((l) => l.trim());
            assert.deepEqual(rules, [
                "use_backend pv_api if bg_preview { path /api } || bg_preview { path_beg /api/ }",
                "use_backend pv_web if bg_preview",
                "use_backend be_api if { path /api } || { path_beg /api/ }",
            ]);
            const pv = text.slice(text.indexOf("backend pv_web"));
            assert.match(pv, /server pv-green-1 127\.0\.0\.1:18133 check\n/);
            assert.match(pv, /server pv-green-2 127\.0\.0\.1:18135 check\n/);
            assert.doesNotMatch(pv.slice(0, pv.indexOf("\n\n")), /blue/);
            assert.match(pv, /set-header x-bluegreen-release %\[str\(green-1\),map\(.*\/releases\.map,unknown\)\] if \{ srv_name pv-green-1 \}/);
            // The cleanup guard reads no color's traffic into the preview's servers.
            assert.ok(
                configWeights(text)
                    .filter((w) => w.backend.startsWith("pv_"))
                    .every((w) => !/^(blue|green)/.test(w.server)),
            );
            fs.writeFileSync(path.join(dir, "haproxy.cfg"), text);
            const r = spawnSync("/usr/sbin/haproxy", ["-c", "-q", "-f", path.join(dir, "haproxy.cfg")], { encoding: "utf8", timeout: 10_000 });
            assert.equal(r.status, 0, r.stderr);
        } finally {
            removeTmp(dir);
        }
    });

    it("a switch changes the config's shape, so it reloads and the preview follows the new idle color", () => {
        const blue = render({});
        const green = render({ active: "green", colors: { blue: { release: "abc1234" }, green: { release: "def5678" } } });
        assert.notEqual(configShape(blue), configShape(green));
        assert.match(green, /server pv-blue-1 /);
        assert.doesNotMatch(green, /server pv-green-1 /);
        const plain = (a: string) =>
            renderConfig(
                modelOf(switchInputs(stackConfig({ components: comps, active: a, colors: { blue: { release: "abc1234" }, green: { release: "def5678" } } }))),
            );
        assert.equal(configShape(plain("blue")), configShape(plain("green")), "without a preview, a switch is still weights alone");
    });

    it("previewUrl: what status shows", () => {
        assert.equal(previewUrl(PREVIEW, 18100, "green"), "http://127.0.0.1:18100/ with header x-preview or cookie bg_preview (green)");
        assert.equal(previewUrl({ port: 18200 }, 18100, "blue"), "http://127.0.0.1:18200/ (blue)");
        assert.equal(previewUrl({ host: "preview.example.com" }, 18100, "blue"), "http://preview.example.com:18100/ (blue)");
        assert.equal(previewUrl({ port: 18200 }, 18100, "green", "r2"), "http://127.0.0.1:18200/ (green, release r2)", "the idle color's deployed release");
    });
});
