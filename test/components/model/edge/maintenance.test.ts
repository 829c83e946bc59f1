import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseConfig } from "../../../../components/model/config";
import {
    DEFAULT_MAINTENANCE_MESSAGE,
    DEFAULT_RETRY_AFTER_S,
    MaintenanceModel,
    describeMaintenanceView,
    maintenanceCommand,
    maintenanceLines,
    maintenanceMapPath,
    maintenanceMapText,
    maintenanceView,
    parseMaintenanceMap,
    probeToken,
} from "../../../../components/model/edge/maintenance";
import { renderConfig, renderReleasesMap } from "../../../../components/model/traffic/haproxyConfig";
import { allOn } from "../../../../components/model/traffic/traffic";
import { maintenanceInputs, switchInputs } from "../../../../components/plan";
import { minimalRaw, stackConfig } from "../../../helpers/stackConfig";
import { makeTmp, removeTmp } from "../../../helpers/tmp";

const TOKEN = "0123456789abcdef0123456789abcdef";
const MODEL: MaintenanceModel = { mapFile: "/var/lib/bluegreen/dev/maintenance.map", message: "Back at 14:00 UTC.", retryAfterSeconds: 120, allow: [] };

function problems(maintenance: unknown): string[] {
    try {
        parseConfig({ ...minimalRaw(), maintenance }, "dev");
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return [...e.problems];
    }
    assert.fail("parseConfig accepted the config");
}

describe("model/edge/maintenance", () => {
    describe("bluegreen:maintenance", () => {
        it("defaults the message, Retry-After and allow-list", () => {
            const c = stackConfig({ maintenance: { enabled: true } });
            assert.deepEqual(c.maintenance, { enabled: true, message: DEFAULT_MAINTENANCE_MESSAGE, retryAfterSeconds: DEFAULT_RETRY_AFTER_S, allow: [] });
        });

        it("is absent when unset", () => {
            assert.equal(stackConfig().maintenance, undefined);
            assert.equal(maintenanceInputs(stackConfig()), undefined);
            assert.equal(switchInputs(stackConfig()).maintenance, undefined);
        });

        it("refuses what it cannot render safely, naming the key", () => {
            assert.match(problems({}).join("\n"), /bluegreen:maintenance\.enabled/);
            assert.match(problems({ enabled: true, message: 'say "hi"' }).join("\n"), /bluegreen:maintenance\.message: .*quotes/);
            assert.match(problems({ enabled: true, message: "two\nlines" }).join("\n"), /bluegreen:maintenance\.message/);
            assert.match(problems({ enabled: true, retryAfterSeconds: 0 }).join("\n"), /bluegreen:maintenance\.retryAfterSeconds/);
            assert.match(problems({ enabled: true, allow: ["10.0.0.0/33"] }).join("\n"), /bluegreen:maintenance\.allow\[0\]: expected an IPv4/);
            assert.match(problems({ enabled: true, allow: ["300.1.1.1"] }).join("\n"), /bluegreen:maintenance\.allow\[0\]/);
            assert.match(problems({ enabled: true, mode: "x" }).join("\n"), /bluegreen:maintenance/);
        });

        it("gives the switch the rule and the Maintenance resource the flag", () => {
            const c = stackConfig({ maintenance: { enabled: true, allow: ["127.0.0.2", "10.0.0.0/8"] } });
            const sw = switchInputs(c);
            assert.deepEqual(sw.maintenance, {
                mapFile: maintenanceMapPath(sw.layout),
                message: DEFAULT_MAINTENANCE_MESSAGE,
                retryAfterSeconds: DEFAULT_RETRY_AFTER_S,
                allow: ["127.0.0.2", "10.0.0.0/8"],
            });
            const m = maintenanceInputs(c)!;
            assert.equal(m.enabled, true);
            assert.equal(m.mapFile, sw.maintenance!.mapFile);
            // Turning it on or off leaves the switch's inputs, hence its config, as they were: no reload.
            assert.deepEqual(switchInputs(stackConfig({ maintenance: { enabled: false, allow: ["127.0.0.2", "10.0.0.0/8"] } })), sw);
        });
    });

    describe("rendering", () => {
        it("answers 503 with the message and Retry-After when the map says on, except to the allow-list", () => {
            assert.deepEqual(maintenanceLines({ ...MODEL, allow: ["127.0.0.2", "10.0.0.0/8"] }), [
                'http-request return status 503 content-type "text/plain; charset=utf-8" string "Back at 14:00 UTC.\\n" ' +
                    "hdr Retry-After 120 hdr x-bluegreen-maintenance on " +
                    "if { str(enabled),map(/var/lib/bluegreen/dev/maintenance.map,off) -m str on } " +
                    "!{ req.hdr(x-bluegreen-probe),map(/var/lib/bluegreen/dev/maintenance.map,-) -m str probe } !{ src 127.0.0.2 10.0.0.0/8 }",
            ]);
            assert.doesNotMatch(maintenanceLines(MODEL)[0], /src/);
        });

        it("puts the rule in fe_main before any routing, only when configured", () => {
            const base = {
                stack: "dev",
                split: allOn("blue"),
                frontendPort: 18100,
                exporterPort: 18101,
                adminSocket: "/a.sock",
                pidFile: "/p",
                serverStateFile: "/s",
                releasesMap: "/r.map",
                backends: [{ component: "web", route: "/", healthPath: "/h", healthStatus: "200", servers: [{ color: "blue" as const, port: 1 }] }],
                extra: { global: [], defaults: [], frontend: [] },
            };
            assert.doesNotMatch(renderConfig(base), /maintenance/);
            const lines = renderConfig({ ...base, maintenance: MODEL }).split("\n");
            const fe = lines.indexOf("frontend fe_main");
            assert.equal(lines[fe + 1], "    bind 127.0.0.1:18100");
            assert.equal(lines[fe + 2], `    ${maintenanceLines(MODEL)[0]}`);
        });

        it("is a config real HAProxy accepts", function () {
            this.timeout(20_000);
            const dir = makeTmp("maint-");
            try {
                const mapFile = path.join(dir, "maintenance.map");
                fs.writeFileSync(mapFile, maintenanceMapText(true, TOKEN));
                fs.writeFileSync(path.join(dir, "releases.map"), renderReleasesMap({ blue: "abc1234" }));
                const file = path.join(dir, "haproxy.cfg");
                fs.writeFileSync(
                    file,
                    renderConfig({
                        stack: "dev",
                        split: allOn("blue"),
                        frontendPort: 18100,
                        exporterPort: 18101,
                        adminSocket: path.join(dir, "admin.sock"),
                        pidFile: path.join(dir, "haproxy.pid"),
                        serverStateFile: path.join(dir, "server-state"),
                        releasesMap: path.join(dir, "releases.map"),
                        backends: [{ component: "web", route: "/", healthPath: "/h", healthStatus: "200", servers: [{ color: "blue", port: 18130 }] }],
                        extra: { global: [], defaults: [], frontend: [] },
                        maintenance: { ...MODEL, mapFile, allow: ["127.0.0.2", "10.0.0.0/8"] },
                    }),
                );
                const r = spawnSync("/usr/sbin/haproxy", ["-c", "-q", "-f", file], { encoding: "utf8", timeout: 10_000 });
                assert.equal(r.status, 0, r.stderr);
                // Without its map the config does not load: the switch creates the map first.
                fs.rmSync(mapFile);
                assert.notEqual(spawnSync("/usr/sbin/haproxy", ["-c", "-q", "-f", file], { encoding: "utf8", timeout: 10_000 }).status, 0);
            } finally {
                removeTmp(dir);
            }
        });
    });

    describe("the map", () => {
        it("round-trips through its file and HAProxy's `show map`", () => {
            assert.equal(maintenanceMapText(true, TOKEN), `enabled on\n${TOKEN} probe\n`);
            assert.equal(parseMaintenanceMap(maintenanceMapText(true, TOKEN)), true);
            assert.equal(parseMaintenanceMap(maintenanceMapText(false, TOKEN)), false);
            assert.equal(probeToken(maintenanceMapText(false, TOKEN)), TOKEN);
            assert.equal(probeToken(`0x55 ${TOKEN} probe\n`), undefined, "only the file's own lines are read for the token");
            assert.equal(probeToken("enabled on\n"), undefined);
            assert.throws(() => maintenanceMapText(true, "short"), /32 hex digits/);
            assert.equal(parseMaintenanceMap("0x562d34d65380 enabled on\n"), true);
            assert.equal(parseMaintenanceMap("0x562d34d65380 enabled off\n"), false);
            assert.equal(parseMaintenanceMap(""), undefined);
            assert.equal(parseMaintenanceMap(undefined), undefined);
            assert.equal(parseMaintenanceMap("enabled maybe\n"), undefined);
        });

        it("is set live by one runtime command", () => {
            assert.equal(maintenanceCommand("/x/maintenance.map", true), "set map /x/maintenance.map enabled on");
            assert.equal(maintenanceCommand("/x/maintenance.map", false), "set map /x/maintenance.map enabled off");
        });
    });

    describe("status", () => {
        const ev = (time: string, performer: string, enabled: boolean) => ({ time, performer, stack: "dev", operation: "maintenance", details: { enabled } });
        const events = [
            ev("2026-12-07T10:00:00Z", "alice", true),
            { time: "2026-12-07T10:30:00Z", performer: "bob", stack: "dev", operation: "switch", details: {} },
            ev("2026-12-07T11:00:00Z", "bob", false),
            ev("2026-12-07T12:00:00Z", "carol", true),
        ];
        it("shows the live flag, the allow-list, and who set it when from the last audit record that set it", () => {
            const v = maintenanceView({ enabled: true, allow: ["127.0.0.2"] }, true, events);
            assert.deepEqual(v, { live: "on", config: "on", allow: ["127.0.0.2"], since: "2026-12-07T12:00:00Z", by: "carol" });
            assert.equal(describeMaintenanceView(v), "maintenance: on since 2026-12-07T12:00:00Z by carol, allowed: 127.0.0.2");
            assert.equal(describeMaintenanceView({ ...v, allow: [] }), "maintenance: on since 2026-12-07T12:00:00Z by carol, no address allowed");
        });
        it("off, and a live state config does not ask for, are said so", () => {
            const off = maintenanceView({ enabled: false, allow: [] }, false, events.slice(0, 3));
            assert.equal(describeMaintenanceView(off), "maintenance: off since 2026-12-07T11:00:00Z by bob");
            const drift = maintenanceView({ enabled: false, allow: [] }, true, events);
            assert.equal(
                describeMaintenanceView(drift),
                "maintenance: on since 2026-12-07T12:00:00Z by carol, no address allowed  << config says off; run `up` to apply it",
            );
            const unknown = maintenanceView({ enabled: true, allow: [] }, undefined, []);
            assert.deepEqual(unknown, { live: "unknown", config: "on", allow: [] });
            assert.equal(describeMaintenanceView(unknown), "maintenance: unknown  << config says on; run `up` to apply it");
        });
    });
});
