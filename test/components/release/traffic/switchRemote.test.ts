// applySwitch over an Incus remote, against a stubbed exec seam: which Incus round trips the
// switch makes, in which order, and what a failure of the flip's one exec leads to.

import assert from "node:assert/strict";
import { Cmd } from "../../../../components/io/exec";
import { FLIP, FLIP_SCRIPT, READ_SCRIPT, PART_MARKER, sha256 } from "../../../../components/io/hotSwitch";
import { EXEC_SENTINEL, SOCAT_SCRIPT } from "../../../../components/io/runtimeApi";
import { PROBER_SENTINEL } from "../../../../components/io/prober";
import { WRITE_SCRIPT, APPEND_SCRIPT } from "../../../../components/io/haproxyHost";
import { COLOR_HEADER, RELEASE_HEADER, renderConfig } from "../../../../components/model/traffic/haproxyConfig";
import { haproxyLayout } from "../../../../components/model/naming";
import { SwitchInputs, SwitchOutputs, applySwitch, guessLive, modelOf } from "../../../../components/release/traffic/switch";
import { CmdResult } from "../../../../components/io/exec";
import { switchProvider } from "../../../../components/providers/switch";
import { RunnerStub, fail, instanceJson, ok, stubRunner } from "../../../helpers/runnerStub";
import { quietProgress } from "../../../helpers/quiet";

const INPUTS: SwitchInputs = {
    stack: "prod",
    host: { placement: "incus", instance: "prod-haproxy", remote: "prod" },
    layout: haproxyLayout("incus", "app", "prod"),
    method: "runtime",
    active: "blue",
    release: "r2",
    frontendPort: 18100,
    exporterPort: 18101,
    extra: { global: [], defaults: [], frontend: [] },
    components: [{ name: "web", route: "/", healthPath: "/health", ports: { blue: 18081, green: 18082 }, container: "prod-blue-web" }],
    remote: "prod",
    timeoutMs: 1000,
    settleMs: 500,
};
const LIVE = renderConfig(modelOf({ ...INPUTS, active: "green", release: "r1" }));
const STATE =
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n" +
    "3 be_web 1 blue 127.0.0.1 2 0 0 1 5 6 0 0 0 0\n3 be_web 2 green 127.0.0.1 2 0 1 1 5 6 0 0 0 0\n";
const PROC = (reloads: number) =>
    `#<PID> <type> <reloads> <uptime> <version>\n1 master ${reloads} [failed: 0] 0d00h01m 2.6.12\n# workers\n2 worker 0 0d00h01m 2.6.12\n`;

function part(rc: number | "-", text: string): string {
    return `${PART_MARKER} ${rc} ${Buffer.byteLength(text)}\n${text}\n`;
}
const READ_OUT = part(0, PROC(0)) + part(0, `${STATE}2.6.12\n`) + part(0, LIVE) + part(0, "green\n") + part("-", "") + part("-", "") + `${EXEC_SENTINEL} 0\n`;

type Kind = "query" | "probe" | "read" | "flip" | "write" | "append" | "pull" | "socat" | "other";
function kindOf(c: Cmd): Kind {
    const a = c.argv;
    if (a[1] === "query") return "query";
    if (a[1] === "file" && a[2] === "pull") return "pull";
    if (a.includes("node")) return "probe";
    const script = a[a.indexOf("-c") + 1];
    return script === READ_SCRIPT
        ? "read"
        : script === FLIP_SCRIPT
          ? "flip"
          : script === WRITE_SCRIPT
            ? "write"
            : script === APPEND_SCRIPT
              ? "append"
              : script === SOCAT_SCRIPT
                ? "socat"
                : "other";
}

/** Answers every command of a switch over a remote; `flipAnswer` is the flip's. */
function answers(flipAnswer: CmdResult, read = READ_OUT): (c: Cmd) => CmdResult {
    let reloaded = false;
    return (c) => {
        switch (kindOf(c)) {
            case "query":
                return ok(instanceJson(c.argv[2].split("/").pop()!, "Running", { "user.bluegreen.color": "blue", "user.bluegreen.release": "r2" }));
            case "probe": {
                const n = (JSON.parse(String(c.input)) as unknown[]).length;
                const one = JSON.stringify({ status: 200, headers: { [COLOR_HEADER]: "blue", [RELEASE_HEADER]: "r2" }, body: "ok", detail: "" });
                return ok(`${Array(n).fill(one).join("\n")}\n${PROBER_SENTINEL}\n`);
            }
            case "read":
                return ok(read);
            case "flip":
                return flipAnswer;
            case "pull":
                return c.argv[3].endsWith(".bak") ? ok(LIVE) : fail(1, "Error: file does not exist\n");
            case "socat": {
                const input = String(c.input);
                if (input.startsWith("reload")) reloaded = true;
                return ok(`${input.startsWith("show proc") ? PROC(reloaded ? 1 : 0) : ""}\n${EXEC_SENTINEL} 0\n`);
            }
            default:
                return ok();
        }
    };
}

function remoteStub(flipAnswer: CmdResult): RunnerStub {
    return stubRunner(answers(flipAnswer));
}

describe("applySwitch over an Incus remote (stubbed Incus)", () => {
    let stub: RunnerStub | undefined;
    quietProgress();
    afterEach(() => stub?.restore());

    it("from the decision to traffic moved is one exec: the read and Incus's record at once (no prober), then the flip; the rest after", async () => {
        stub = remoteStub(ok(`Configuration file is valid\n\n2.6.12\n\n${EXEC_SENTINEL} 0\n`));
        const out = await applySwitch(INPUTS);
        assert.equal(out.served, "blue");
        const kinds = stub.calls.map(kindOf);
        assert.deepEqual(kinds.slice(0, 2).sort(), ["query", "read"], "readiness (the query; HAProxy's checks judge health) beside one read exec");
        assert.equal(kinds[2], "flip", "then the flip, and nothing between");
        assert.deepEqual(
            kinds.slice(3),
            ["probe", "write", "append", "append", "query"],
            "verify, record, audit (the history from the read), prune: after traffic moved",
        );
        assert.deepEqual(stub.calls[0].argv, ["incus", "query", "prod:/1.0/instances/prod-blue-web"]);
        const f = stub.calls[2].argv.slice(8);
        const map = "/var/lib/app/releases.map";
        assert.deepEqual(f.slice(0, 2), ["/etc/haproxy/bluegreen.cfg", `${process.pid}`]);
        assert.deepEqual(f.slice(5), [
            sha256(LIVE),
            "bak",
            "/run/haproxy/admin.sock",
            "5",
            "be_web/blue",
            `set map ${map} blue r2; set server be_web/blue weight 100; set server be_web/green weight 0`,
            "-",
            "-",
        ]);
        assert.ok(String(stub.calls[2].input).startsWith(renderConfig(modelOf(INPUTS))));
    });

    it("on the hot path a target on another release is still refused by Incus's record, with no prober and no flip", async () => {
        const rest = answers(ok(`\n${EXEC_SENTINEL} 0\n`));
        stub = stubRunner((c) =>
            kindOf(c) === "query" ? ok(instanceJson("prod-blue-web", "Running", { "user.bluegreen.color": "blue", "user.bluegreen.release": "r1" })) : rest(c),
        );
        await assert.rejects(applySwitch(INPUTS), /prod-blue-web is unhealthy \(it is blue r1, not blue r2\).*HAProxy was not touched/s);
        assert.deepEqual(stub.calls.map(kindOf).sort(), ["query", "read"]);
    });

    it("a switch that reloads (no live config to weigh against) probes the targets before the flip, and an unhealthy one is refused, nothing written", async () => {
        const read = READ_OUT.replace(part(0, LIVE), part("-", ""));
        const rest = answers(ok(`\n${EXEC_SENTINEL} 0\n`), read);
        stub = stubRunner((c) => {
            if (kindOf(c) !== "probe") return rest(c);
            const one = JSON.stringify({ status: 503, headers: {}, body: "down", detail: "down" });
            return ok(`${one}\n${PROBER_SENTINEL}\n`);
        });
        await assert.rejects(applySwitch(INPUTS), /prod-blue-web is unhealthy \(HTTP 503.*HAProxy was not touched/s);
        const kinds = stub.calls.map(kindOf);
        assert.deepEqual(kinds.slice(0, 2).sort(), ["query", "read"]);
        // No live config: the probe map (model/edge/nodeProbe.ts) is created once, beside the readiness check with its probe; no flip.
        assert.deepEqual(kinds.slice(2).sort(), ["other", "probe", "query"], "the readiness check with its probe, after the decision; no flip");
        assert.deepEqual(stub.calls.find((c) => kindOf(c) === "probe")!.argv.slice(0, 6), ["incus", "exec", "prod:prod-haproxy", "--", "node", "-e"]);
    });

    it("a fast rollback is audited as one from the history the one read brought, with no pull of it", async () => {
        const history = "2026-12-07T10:00:00Z blue r2\n2026-12-07T10:05:00Z green r1\n";
        const read = READ_OUT.replace(`${part("-", "")}${EXEC_SENTINEL}`, `${part(0, history)}${EXEC_SENTINEL}`);
        stub = stubRunner(answers(ok(`\n${EXEC_SENTINEL} 0\n`), read));
        await applySwitch(INPUTS);
        assert.equal(stub.calls.filter((c) => kindOf(c) === "pull").length, 0);
        const audit = stub.calls.filter((c) => kindOf(c) === "append").pop()!;
        assert.match(String(audit.input), /"operation":"rollback".*"kind":"fast"/);
    });

    it("HAProxy rejects the candidate in the flip: a refusal with its reason, nothing after (nothing was swapped)", async () => {
        stub = remoteStub(fail(FLIP.rejected, "", `[ALERT] unknown keyword 'bogus'\n\n${EXEC_SENTINEL} 103\n`));
        await assert.rejects(
            applySwitch(INPUTS),
            /HAProxy rejected the rendered config: \[ALERT\] unknown keyword 'bogus'.*Nothing was changed; green still serves/s,
        );
        assert.equal(stub.calls.map(kindOf).pop(), "flip");
    });

    it("HAProxy's checks never see the target UP: nothing changed, the servers named", async () => {
        stub = remoteStub(fail(FLIP.notUp, "", `not running and ready: be_web/blue\n\n${EXEC_SENTINEL} 104\n`));
        await assert.rejects(
            applySwitch(INPUTS),
            /did not see blue UP within 500 ms \(not running and ready: be_web\/blue\)\. Nothing was changed; green still serves/,
        );
        assert.equal(stub.calls.map(kindOf).pop(), "flip");
    });

    it("the runtime API fails after the swap: .bak restored and HAProxy reloaded; green still serves", async () => {
        stub = remoteStub(fail(FLIP.runtime, "", `No such server.\n\n${EXEC_SENTINEL} 107\n`));
        await assert.rejects(
            applySwitch(INPUTS),
            /switch to blue failed: HAProxy's runtime API refused.*No such server.*Restored the previous config from \/etc\/haproxy\/bluegreen\.cfg\.bak and reloaded; green still serves/s,
        );
        const after = stub.calls.slice(stub.calls.findIndex((c) => kindOf(c) === "flip") + 1);
        assert.deepEqual(after.map(kindOf).slice(0, 3), ["pull", "write", "write"], ".bak read, config and server state written");
        assert.ok(
            after.some((c) => kindOf(c) === "socat" && String(c.input).startsWith("reload")),
            "reloaded",
        );
    });

    it("the flip's exec itself fails (its fate unknown): restored as after the swap", async () => {
        stub = remoteStub(fail(1, "Error: websocket: close 1006"));
        await assert.rejects(applySwitch(INPUTS), /the flip's exec failed \(exit 1: Error: websocket: close 1006\).*Restored the previous config/s);
    });

    it("the one read came back lost three times: the reads one by one, then the same flip", async () => {
        let reads = 0;
        const rest = answers(ok(`\n${EXEC_SENTINEL} 0\n`));
        stub = stubRunner((c) => {
            if (kindOf(c) === "read") {
                reads++;
                return ok("");
            }
            if (kindOf(c) === "pull" && c.argv[3].endsWith("/etc/haproxy/bluegreen.cfg")) return ok(LIVE);
            if (kindOf(c) === "pull" && c.argv[3].endsWith("active-color")) return ok("green\n");
            if (kindOf(c) === "socat" && String(c.input).startsWith("show servers state")) return ok(`${STATE}2.6.12\n\n${EXEC_SENTINEL} 0\n`);
            return rest(c);
        });
        const out = await applySwitch(INPUTS);
        assert.equal(out.served, "blue");
        assert.equal(reads, 3);
        assert.equal(stub.calls.filter((c) => kindOf(c) === "flip").length, 1);
    });
});

describe("applySwitch over a remote, decided on the state the last run left (stubbed Incus)", () => {
    let stub: RunnerStub | undefined;
    quietProgress();
    afterEach(() => stub?.restore());
    const MAP = "blue r0\ngreen r1\n";
    const PRIOR: SwitchOutputs = { ...INPUTS, active: "green", release: "r1", served: "green", recorded: "green", releasesMap: MAP };
    const guardOf = (c: Cmd) => c.argv.slice(-2);

    it("a flip is one exec from the decision to traffic moved: Incus's record, then the guarded flip, with no read", async () => {
        stub = remoteStub(ok(`\n${EXEC_SENTINEL} 0\n`));
        const out = await applySwitch(INPUTS, [], PRIOR);
        assert.equal(out.served, "blue");
        assert.equal(out.releasesMap, "blue r2\ngreen r1\n", "the map it left, for the next run");
        const kinds = stub.calls.map(kindOf);
        assert.deepEqual(kinds.slice(0, 2), ["query", "flip"], "the query first (fail closed), then the flip: no read exec");
        assert.ok(!kinds.includes("read"));
        assert.deepEqual(kinds.slice(2), ["probe", "write", "append", "pull", "append", "query"], "verify, record, the history's pull, audit, prune");
        const f = stub.calls[1];
        assert.deepEqual(guardOf(f), ["be_web/blue:0:0 be_web/green:0:1", sha256(MAP)], "the servers and the map as the last run left them");
        assert.equal(f.argv[13], sha256(LIVE), "the config as the last run left it");
        assert.deepEqual(f.argv.slice(-3, -2), [
            `set map /var/lib/app/releases.map blue r2; set server be_web/blue weight 100; set server be_web/green weight 0`,
        ]);
    });

    it("HAProxy is not as the last run left it (exit 108): nothing was written; the read, then the same flip unguarded", async () => {
        let flips = 0;
        const rest = answers(ok(`\n${EXEC_SENTINEL} 0\n`));
        stub = stubRunner((c) => {
            if (kindOf(c) === "flip" && flips++ === 0) return fail(FLIP.differs, "", `HAProxy's servers are not as expected\n\n${EXEC_SENTINEL} 108\n`);
            return rest(c);
        });
        const out = await applySwitch(INPUTS, [], PRIOR);
        assert.equal(out.served, "blue");
        const kinds = stub.calls.map(kindOf);
        assert.deepEqual(kinds.slice(0, 2), ["query", "flip"]);
        assert.deepEqual(kinds.slice(2, 4).sort(), ["query", "read"], "then the read beside Incus's record");
        assert.equal(kinds[4], "flip");
        assert.deepEqual(guardOf(stub.calls[4]), ["-", "-"], "decided on the read: no guard");
    });

    it("a target on another release is refused by Incus's record before the one exec: no flip", async () => {
        const rest = answers(ok(`\n${EXEC_SENTINEL} 0\n`));
        stub = stubRunner((c) =>
            kindOf(c) === "query" ? ok(instanceJson("prod-blue-web", "Running", { "user.bluegreen.color": "blue", "user.bluegreen.release": "r1" })) : rest(c),
        );
        await assert.rejects(applySwitch(INPUTS, [], PRIOR), /prod-blue-web is unhealthy \(it is blue r1, not blue r2\).*HAProxy was not touched/s);
        assert.deepEqual(stub.calls.map(kindOf), ["query"]);
    });

    for (const [what, prior, inputs] of [
        ["a first run (no map recorded)", { ...PRIOR, releasesMap: undefined }, INPUTS],
        ["the last run left a split", { ...PRIOR, served: "blue=10,green=90" }, INPUTS],
        ["the last run did not record its color", { ...PRIOR, recorded: "none" }, INPUTS],
        ["a gate", PRIOR, { ...INPUTS, gate: { gateTimeoutSeconds: 60 } }],
        ["a drained member", PRIOR, { ...INPUTS, drained: ["be_web/green"] }],
        ["no flip (the same color)", { ...PRIOR, active: "blue", release: "r2", served: "blue", recorded: "blue" }, INPUTS],
    ] as const) {
        it(`${what}: read first, as before`, () => {
            assert.equal(guessLive(inputs as SwitchInputs, prior as SwitchOutputs), undefined);
        });
    }
    it("locally there is nothing to guess: every read is local", () => {
        assert.equal(guessLive({ ...INPUTS, host: { placement: "host", dir: "/tmp/x" } as SwitchInputs["host"] }, PRIOR), undefined);
        assert.ok(guessLive(INPUTS, PRIOR));
    });
});

describe("the switch provider's update over a remote (stubbed Incus)", () => {
    let stub: RunnerStub | undefined;
    quietProgress();
    afterEach(() => stub?.restore());

    it("claims HAProxy beside the switch, not before it: the flip does not wait on the owner file's pull", async () => {
        const rest = answers(ok(`\n${EXEC_SENTINEL} 0\n`));
        let flipped = false;
        let flippedBeforeOwner: boolean | undefined;
        stub = stubRunner(async (c) => {
            if (kindOf(c) === "flip") flipped = true;
            if (kindOf(c) === "pull" && c.argv[3].endsWith("/switch-owner")) {
                // Answers once the flip ran, or after 2 s when the switch waits on this pull.
                for (let k = 0; k < 40 && !flipped; k++) await new Promise((r) => setTimeout(r, 50));
                flippedBeforeOwner = flipped;
                return ok("prod-switch-aaaa0001\n");
            }
            return rest(c);
        });
        await switchProvider.update!("prod-switch-aaaa0001", { ...INPUTS, served: "green", recorded: "green" }, INPUTS);
        assert.equal(flippedBeforeOwner, true);
    });

    it("hands the previous outputs to the switch: a flip after an up that left its map makes no read exec", async () => {
        stub = stubRunner(answers(ok(`\n${EXEC_SENTINEL} 0\n`)));
        const olds = { ...INPUTS, active: "green" as const, release: "r1", served: "green", recorded: "green", releasesMap: "blue r0\ngreen r1\n" };
        const r = await switchProvider.update!("prod-switch-aaaa0001", olds, INPUTS);
        assert.equal(r.outs.releasesMap, "blue r2\ngreen r1\n");
        assert.ok(!stub.calls.some((c) => kindOf(c) === "read"));
        assert.equal(stub.calls.filter((c) => kindOf(c) === "flip").length, 1);
    });
});
