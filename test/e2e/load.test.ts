// Zero dropped requests: a real load generator keeps traffic on the frontend while
// `up` flips the active color back and forth, by runtime API and by master-worker
// reload, with keep-alive and with a new connection per request. Any non-2xx
// response or socket error fails the test. (Latency figures live in bench/.)

import assert from "node:assert/strict";
import { ColorProbe, startLoad } from "../../harness/load";
import { TestStack } from "../../harness/stack";

const A = "aaa3001";
const B = "bbb3002";
const FLIPS = 3;

describe("e2e: switching under load drops nothing", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "load", basePort: 19400 });

    before(async () => {
        s.reset();
        await s.publish(A);
        await s.publish(B);
        s.setColors({ blue: A, green: B }, "blue");
        await s.upOk();
    });
    after(async () => s.teardown());

    for (const method of ["runtime", "reload"] as const) {
        for (const keepAlive of [true, false]) {
            it(`${FLIPS} flips by ${method}, ${keepAlive ? "keep-alive" : "a new connection per request"}: no errors, no non-2xx`, async () => {
                s.config.haproxy.switchMethod = method;
                await s.upOk();
                const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}`, connections: 4, threads: 1, keepAlive });
                const probe = new ColorProbe(`http://127.0.0.1:${s.frontendPort}/api/probe`);
                try {
                    for (let i = 0; i < FLIPS; i++) {
                        s.config.active = s.config.active === "blue" ? "green" : "blue";
                        const started = Date.now();
                        const r = await s.up();
                        assert.equal(r.code, 0, r.stderr);
                        assert.match(r.stderr, method === "reload" ? /haproxy reloaded \(master-worker\)/ : /weights flipped/);
                        assert.ok(await probe.firstFrom(s.config.active, started, 5000), `${s.config.active} answered under load`);
                    }
                } finally {
                    await probe.stop();
                    const result = await load.stop();
                    assert.ok(result.requests > 200, `enough load: ${JSON.stringify(result)}`);
                    const failures = { status: result.status, connect: result.connect, read: result.read, write: result.write, timeout: result.timeout };
                    assert.deepEqual(failures, { status: 0, connect: 0, read: 0, write: 0, timeout: 0 }, JSON.stringify(result));
                    assert.ok(result.blue > 0 && result.green > 0 && result.other === 0, JSON.stringify(result));
                }
            });
        }
    }
});
