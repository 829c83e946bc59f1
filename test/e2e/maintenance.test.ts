// Issue 22 part 3 end to end: bluegreen:maintenance on and off under wrk load through a real
// HAProxy. Everyone else gets 503 + Retry-After; an allow-listed client (its own source
// address on loopback, 127.0.0.2) still reaches the active color; nothing is cut mid-flight,
// and HAProxy never reloads for it.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { startLoad } from "../../harness/load";
import { TestStack, eventually } from "../../harness/stack";

const A = "ed9e501";
const ALLOWED = "127.0.0.2";
const MESSAGE = "Sev-1: back at 14:00 UTC.";

interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** One GET from `localAddress`; without `agent`, on a connection of its own (node's global agent keeps sockets alive across a reload). */
function getFrom(localAddress: string, url: string, agent?: http.Agent): Promise<Answer> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { localAddress, agent: agent ?? false, timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (b: Buffer) => (body += b.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

/** Keep-alive clients from `localAddress` in a loop: what they saw, by outcome. */
function clientLoop(localAddress: string, url: string, workers: number) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
    const seen = { ok: 0, other: 0, errors: [] as string[], colors: new Set<string>() };
    let stop = false;
    const loops = Array.from({ length: workers }, async () => {
        for (let i = 0; i < 100_000 && !stop; i++) {
            try {
                const r = await getFrom(localAddress, url, agent);
                if (r.status >= 200 && r.status < 300) seen.ok++;
                else seen.other++;
                seen.colors.add(String(r.headers["x-bluegreen-color"] ?? "none"));
            } catch (e) {
                seen.errors.push((e as Error).message);
            }
        }
    });
    return {
        seen,
        async stop() {
            stop = true;
            await Promise.all(loops);
            agent.destroy();
            return seen;
        },
    };
}

describe("e2e: maintenance mode under load", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "maint", basePort: 23500 });
    const url = (p = "/api/items") => `http://127.0.0.1:${s.frontendPort}${p}`;

    before(async () => {
        s.reset();
        await s.publish(A);
        s.setColors({ blue: A }, "blue");
        s.config.maintenance = { enabled: false, message: MESSAGE, retryAfterSeconds: 42, allow: [ALLOWED] };
        await s.upOk();
    });
    after(async () => s.teardown());

    it("on: 503 + Retry-After on every route for others, the allow-listed client reaches blue; off: traffic back; nothing cut, no reload", async () => {
        const reloadsBefore = s.proc()!.reloads;
        const load = startLoad({ url: url(""), connections: 4, threads: 1, keepAlive: true });
        const allowed = clientLoop(ALLOWED, url(), 3);
        let result;
        try {
            await new Promise((r) => setTimeout(r, 1000));
            s.config.maintenance.enabled = true;
            const on = await s.up();
            assert.equal(on.code, 0, on.stderr);
            assert.match(on.stderr, /maintenance: on; HAProxy answers 503 except to 127\.0\.0\.2/);
            for (const p of ["/api/items", "/stream/1", "/", "/nowhere"]) {
                const r = await getFrom("127.0.0.1", url(p));
                assert.equal(r.status, 503, p);
                assert.equal(r.headers["retry-after"], "42", p);
                assert.equal(r.headers["x-bluegreen-maintenance"], "on", p);
                assert.equal(r.body, `${MESSAGE}\n`, p);
                const a = await getFrom(ALLOWED, url(p === "/stream/1" ? "/api/items" : p));
                assert.notEqual(a.status, 503, `${p} from ${ALLOWED}`);
                assert.equal(a.headers["x-bluegreen-color"], "blue", `${p} from ${ALLOWED}`);
            }
            // status shows it live, beside who set it and the allow-list.
            const st = await s.run(["status"]);
            assert.match(st.stdout, /\n  maintenance: on since \S+ by .+, allowed: 127\.0\.0\.2\n/, st.stdout);
            const json = JSON.parse((await s.run(["status", "--json"])).stdout);
            assert.deepEqual(
                { live: json.maintenance.live, config: json.maintenance.config, allow: json.maintenance.allow },
                { live: "on", config: "on", allow: [ALLOWED] },
            );
            // The state is in the map file too, so a reload keeps it.
            assert.match(s.readHaproxyFile(path.join(s.layout().stateDir, "maintenance.map"))!, /^enabled on\n[0-9a-f]{32} probe\n$/);
            await new Promise((r) => setTimeout(r, 1000));

            s.config.maintenance.enabled = false;
            const off = await s.up();
            assert.equal(off.code, 0, off.stderr);
            assert.match(off.stderr, /maintenance: off; traffic reaches the active color again/);
            const r = await getFrom("127.0.0.1", url());
            assert.equal(r.status, 200);
            assert.equal(r.headers["x-bluegreen-color"], "blue");
            assert.match((await s.run(["status"])).stdout, /\n  maintenance: off since \S+ by .+\n/);
            await new Promise((r) => setTimeout(r, 500));
        } finally {
            result = await load.stop();
            await allowed.stop();
        }
        // Others saw 503s, and no connection was refused, reset or timed out.
        assert.ok(result.requests > 100 && result.status > 0, JSON.stringify(result));
        assert.deepEqual(
            { connect: result.connect, read: result.read, write: result.write, timeout: result.timeout },
            { connect: 0, read: 0, write: 0, timeout: 0 },
        );
        // The allow-listed client never saw maintenance, nor an error.
        assert.deepEqual(allowed.seen.errors, []);
        assert.equal(allowed.seen.other, 0);
        assert.ok(allowed.seen.ok > 50, String(allowed.seen.ok));
        assert.deepEqual([...allowed.seen.colors], ["blue"]);
        assert.equal(s.proc()!.reloads, reloadsBefore, "on and off are runtime changes: no reload");
        const audit = fs
            .readFileSync(path.join(s.layout().stateDir, "audit.jsonl"), "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l))
            .filter((e) => e.operation === "maintenance");
        assert.deepEqual(
            audit.map((e) => e.details.enabled),
            [true, false],
        );
    });

    it("survives a reload: a config change while on keeps it on", async () => {
        s.config.maintenance.enabled = true;
        await s.upOk();
        s.config.maintenance.retryAfterSeconds = 7;
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        // The switch reloaded and verified blue through maintenance, with the map's token.
        assert.match(r.stderr, /haproxy reloaded/);
        // A fresh connection each time, and an error is one more try: the old worker may still be closing.
        await eventually(async () => (await getFrom("127.0.0.1", url()).catch(() => undefined))?.headers["retry-after"] === "7", "the new Retry-After", 30_000);
        assert.equal((await getFrom("127.0.0.1", url())).status, 503);
        const token = /^([0-9a-f]{32}) probe$/m.exec(s.readHaproxyFile(path.join(s.layout().stateDir, "maintenance.map"))!)![1];
        assert.ok(!fs.readFileSync(s.statePath(), "utf8").includes(token), "the probe token is not in the state");
        assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), "nor in the output");
        // A client that guesses the header gets 503 like everyone else.
        const guess = await new Promise<number>((resolve, reject) =>
            http.get(url(), { headers: { "x-bluegreen-probe": "enabled" } }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject),
        );
        assert.equal(guess, 503);
        delete s.config.maintenance;
        await s.upOk();
        assert.equal((await getFrom("127.0.0.1", url())).status, 200, "the key removed: traffic flows");
    });
});
