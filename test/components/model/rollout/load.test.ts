import assert from "node:assert/strict";
import {
    describeLoad,
    loadDelayMs,
    loadHeaderProblems,
    parseLoadResult,
    shortWindowWarnings,
    wrkLoadArgv,
    wrkLoadScript,
} from "../../../../components/model/rollout/load";

describe("load (pure)", () => {
    const spec = { path: "/api/items", rps: 20, concurrency: 2, headers: { "X-Load": 'a "quoted" \\ value' } };

    it("wrk's argv: one thread, the connections, the bounded duration, the script, the frontend; no header in argv", () => {
        assert.deepEqual(wrkLoadArgv(spec, { baseUrl: "http://127.0.0.1:18100", seconds: 12, script: "/tmp/x/load.lua" }), [
            "wrk",
            "-t",
            "1",
            "-c",
            "2",
            "-d",
            "12s",
            "--timeout",
            "5s",
            "-s",
            "/tmp/x/load.lua",
            "http://127.0.0.1:18100",
        ]);
        assert.throws(() => wrkLoadArgv(spec, { baseUrl: "http://x", seconds: 0, script: "s" }), /at least 1/);
    });

    it("paces each connection so all of them make at most rps", () => {
        assert.equal(loadDelayMs({ rps: 20, concurrency: 2 }), 100);
        assert.equal(loadDelayMs({ rps: 1000, concurrency: 1 }), 1);
        assert.equal(loadDelayMs({ rps: 3, concurrency: 1 }), 333);
    });

    it("the script sets the path, the headers (Lua-escaped), the delay and the result line", () => {
        const lua = wrkLoadScript(spec);
        assert.match(lua, /^wrk\.path = "\/api\/items"$/m);
        assert.match(lua, /^wrk\.headers\["X-Load"\] = "a \\"quoted\\" \\\\ value"$/m);
        assert.match(lua, /function delay\(\)\n {2}return 100\nend/);
        assert.match(lua, /BLUEGREEN_LOAD \{"requests":%d/);
    });

    it("parses wrk's result line, and says when there is none; never prints a header", () => {
        const out = 'Running 2s test\nBLUEGREEN_LOAD {"requests":40,"connect":0,"read":1,"write":0,"status":3,"timeout":0}\n';
        const r = parseLoadResult(out);
        assert.deepEqual(r, { requests: 40, connect: 0, read: 1, write: 0, status: 3, timeout: 0 });
        const line = describeLoad(spec, r);
        assert.equal(line, "GET /api/items at up to 20 rps over 2 connection(s): 40 requests, 3 non-2xx/3xx, 1 failed (connect 0, read 1, write 0, timeout 0)");
        assert.doesNotMatch(line, /quoted/);
        assert.equal(parseLoadResult("killed"), undefined);
        assert.match(describeLoad(spec, undefined), /wrk printed no result$/);
    });

    it("header problems: credentials, bad names, non-ASCII values", () => {
        assert.deepEqual(loadHeaderProblems("X-Load", "yes"), []);
        for (const name of ["Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "Proxy-Authorization"]) {
            assert.match(loadHeaderProblems(name, "v").join(), /looks like a credential/, name);
        }
        assert.match(loadHeaderProblems("bad name", "v").join(), /is not an HTTP header name/);
        assert.match(loadHeaderProblems("X-A", "é").join(), /printable ASCII/);
    });

    it("warns of windows under 300 s unless the stack is a test stack", () => {
        assert.deepEqual(shortWindowWarnings({ canary: { windowSeconds: 300 }, progressive: { stepSeconds: 600 } }), []);
        const w = shortWindowWarnings({ canary: { windowSeconds: 6 }, progressive: { stepSeconds: 30 } });
        assert.equal(w.length, 2);
        assert.match(w[0], /^bluegreen:canary\.windowSeconds is 6 s, under the 300 s .*set bluegreen:testStack: true/);
        assert.match(w[1], /^bluegreen:progressive\.stepSeconds is 30 s/);
        assert.deepEqual(shortWindowWarnings({ testStack: true, canary: { windowSeconds: 6 } }), []);
    });
});
