// The edge's routing on real Incus and HAProxy (issue 22 part 2): per-component balancing
// and backend lines; host routing, two components on one route told apart by the Host header.

import assert from "node:assert/strict";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import { startLoad } from "../../harness/load";
import { TestStack, eventually } from "../../harness/stack";
import { makeCa, makeLeaf } from "../helpers/certs";

const A = "e4d0a01";
const B = "e4d0b02";
const C = "e4d0c03";

interface Answer {
    readonly status: number;
    readonly headers: http.IncomingHttpHeaders;
}

/** One GET through the frontend, with the given headers; status 0 when it failed. */
function get(port: number, p: string, headers: Record<string, string> = {}): Promise<Answer> {
    return new Promise((resolve) => {
        const req = http.get(`http://127.0.0.1:${port}${p}`, { agent: false, timeout: 3000, headers: { connection: "close", ...headers } }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve({ status: 0, headers: {} }));
    });
}

/** For each path, the nodes that answered `n` requests for it. */
async function nodesByPath(port: number, paths: readonly string[], n: number): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    for (const p of paths) {
        const nodes = new Set<string>();
        for (let i = 0; i < n; i++) {
            const r = await get(port, p);
            assert.equal(r.status, 200, `${p}: ${r.status}`);
            nodes.add(String(r.headers["x-node"]));
        }
        out.set(p, nodes);
    }
    return out;
}

describe("e2e: edge routing", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "edge", basePort: 23000 });
    const tracks = Array.from({ length: 12 }, (_, i) => `/stream/track-${i + 1}`);

    before(async () => {
        s.reset();
        s.config.components = {
            stream: { hostPort: s.componentPort("stream", "blue"), route: "/stream", nodes: 2 },
            web: { hostPort: s.componentPort("web", "blue") + 10, route: "/" },
        };
        await s.publish(A);
        s.setColors({ blue: A }, "blue");
    });
    after(async () => {
        await s.teardown();
    });

    it("by default (roundrobin) one path is answered by both nodes of the stream pool", async () => {
        await s.upOk();
        const byPath = await nodesByPath(s.frontendPort, tracks.slice(0, 2), 6);
        for (const [p, nodes] of byPath) assert.deepEqual([...nodes].sort(), ["1", "2"], p);
    });

    it("balance: uri keeps each track on one node, the tracks spread over both; the backend's own lines apply to it alone", async () => {
        s.config.components.stream.balance = "uri";
        s.config.components.stream.haproxy = ["http-response set-header x-edge-line stream"];
        await s.upOk();
        const byPath = await nodesByPath(s.frontendPort, tracks, 6);
        for (const [p, nodes] of byPath) assert.equal(nodes.size, 1, `${p} went to nodes ${[...nodes].join(", ")}`);
        assert.deepEqual([...new Set([...byPath.values()].flatMap((n) => [...n]))].sort(), ["1", "2"], "the hash spreads the tracks");
        assert.equal((await get(s.frontendPort, "/stream/x")).headers["x-edge-line"], "stream");
        assert.equal((await get(s.frontendPort, "/")).headers["x-edge-line"], undefined, "web's backend has no such line");
    });

    it("hosts: two components on the route / of one HAProxy, each reached on its own host; another host finds no route", async () => {
        await s.publishOne("api", A);
        s.config.components.web.hosts = ["www.h4.test"];
        s.config.components.api = { hostPort: s.componentPort("backend", "blue"), route: "/", hosts: ["api.h4.test"] };
        await s.upOk();
        const component = async (p: string, host: string) => {
            const r = await get(s.frontendPort, p, { host });
            return `${r.status} ${r.headers["x-component"] ?? "-"} ${r.headers["x-bluegreen-color"] ?? "-"}`;
        };
        assert.equal(await component("/", "www.h4.test"), "200 web blue");
        assert.equal(await component("/", `api.h4.test:${s.frontendPort}`), "200 api blue", "the Host header's port is not part of the name");
        assert.equal(await component("/orders/1", "API.h4.test"), "200 api blue", "host names match in any case");
        assert.equal(await component("/stream/track-1", "api.h4.test"), "200 api blue", "a host's own routes win over routes on any host");
        assert.equal(await component("/stream/track-1", "other.h4.test"), "200 stream blue", "a route on any host still serves other hosts");
        assert.equal(await component("/", "other.h4.test"), "404 - -", "no component serves / on another host");
    });

    it("hosts on a TLS listener: a request whose Host header names no host is routed by its SNI", async () => {
        const tlsPort = s.frontendPort + 6;
        const ca = makeCa(path.join(s.dir, "ca"));
        await s.setSecret("tls.certificates", JSON.stringify({ site: makeLeaf(ca, "site").bundle }));
        s.config.haproxy.listen = [{ address: "127.0.0.1", port: tlsPort, tls: true }];
        await s.upOk();
        const viaSni = (servername: string, host: string) =>
            new Promise<string>((resolve) => {
                const req = https.get(
                    // Routing, not the chain (edgeTls.test.ts verifies that): the leaf names localhost only.
                    {
                        host: "127.0.0.1",
                        port: tlsPort,
                        path: "/",
                        servername,
                        rejectUnauthorized: false,
                        agent: false,
                        timeout: 3000,
                        headers: { host, connection: "close" },
                    },
                    (res) => {
                        res.resume();
                        res.on("end", () => resolve(`${res.statusCode} ${res.headers["x-component"] ?? "-"}`));
                    },
                );
                req.on("timeout", () => req.destroy(new Error("timeout")));
                req.on("error", (e) => resolve(`error ${e.message}`));
            });
        await eventually(async () => (await viaSni("www.h4.test", "www.h4.test")) === "200 web", "HTTPS on the TLS listener", 20_000);
        assert.equal(await viaSni("api.h4.test", `127.0.0.1:${tlsPort}`), "200 api", "the SNI names api; the Host header an address");
        assert.equal(await viaSni("www.h4.test", `127.0.0.1:${tlsPort}`), "200 web");
        assert.equal(await viaSni("api.h4.test", "www.h4.test"), "200 web", "a Host header that names a host decides");
        assert.equal(await viaSni("other.h4.test", `127.0.0.1:${tlsPort}`), "404 -", "an SNI no component names finds no route");
        // Plain HTTP has no SNI: the Host header alone, as before.
        assert.equal((await get(s.frontendPort, "/", { host: "127.0.0.1" })).status, 404);
    });

    /** `n` requests to `p` with `headers`, one at a time: each one's color and release, as HAProxy names them. */
    async function served(p: string, headers: Record<string, string>, n: number): Promise<string[]> {
        const out: string[] = [];
        for (let k = 0; k < n; k++) {
            const r = await get(s.frontendPort, p, headers);
            out.push(`${r.status} ${r.headers["x-bluegreen-color"] ?? "-"} ${r.headers["x-bluegreen-release"] ?? "-"}`);
        }
        return [...new Set(out)];
    }

    it("preview under load: header and cookie requests reach only the idle color, normal requests only the active one; status shows it", async () => {
        await s.publish(B);
        await s.publishOne("api", B);
        s.config.preview = { header: "x-preview", cookie: "bg_preview" };
        // wrk's paths (/api/items, /stream/1, /) on any host.
        delete s.config.components.web.hosts;
        s.config.components.api = { hostPort: s.componentPort("backend", "blue"), route: "/api" };
        s.setColors({ blue: A, green: B }, "blue");
        await s.upOk();
        const load = startLoad({ url: `http://127.0.0.1:${s.frontendPort}`, connections: 4, threads: 1, keepAlive: true });
        let header: string[], cookie: string[], hosted: string[];
        try {
            [header, cookie, hosted] = await Promise.all([
                served("/stream/track-2", { "x-preview": "1" }, 40),
                served("/stream/track-3", { cookie: "a=b; bg_preview=qa" }, 40),
                served("/api/items", { "x-preview": "yes" }, 10),
            ]);
        } finally {
            const res = await load.stop();
            assert.ok(res.requests > 50, `load ran: ${JSON.stringify(res)}`);
            assert.deepEqual(
                { green: res.green, other: res.other, status: res.status, connect: res.connect, read: res.read, timeout: res.timeout },
                { green: 0, other: 0, status: 0, connect: 0, read: 0, timeout: 0 },
                `no normal request reached the idle color: ${JSON.stringify(res)}`,
            );
        }
        // The idle color never served: its release is still named, from its deploy.
        assert.deepEqual(header, [`200 green ${B}`]);
        assert.deepEqual(cookie, [`200 green ${B}`]);
        assert.deepEqual(hosted, [`200 green ${B}`], "every component has its preview");
        const st = await s.run(["status"]);
        assert.equal(st.code, 0, st.stdout + st.stderr);
        assert.match(
            st.stdout,
            new RegExp(`preview: http://127\\.0\\.0\\.1:${s.frontendPort}/ with header x-preview or cookie bg_preview \\(green, release ${B}\\)`),
        );
    });

    it("preview after a switch: it follows the new idle color", async () => {
        s.config.active = "green";
        await s.upOk();
        assert.deepEqual(await served("/stream/track-2", { "x-preview": "1" }, 10), [`200 blue ${A}`]);
        assert.deepEqual(await served("/stream/track-2", {}, 10), [`200 green ${B}`]);
    });

    it("preview of a new idle release: its answers name it as soon as it is deployed, before it ever serves", async () => {
        await s.publish(C);
        await s.publishOne("api", C);
        s.setColors({ blue: C, green: B }, "green");
        await s.upOk();
        await eventually(async () => (await served("/stream/track-2", { "x-preview": "1" }, 1))[0] === `200 blue ${C}`, "the preview serves C", 20_000);
        assert.deepEqual(await served("/stream/track-2", { "x-preview": "1" }, 10), [`200 blue ${C}`]);
        assert.deepEqual(await served("/stream/track-2", {}, 10), [`200 green ${B}`]);
        const st = await s.run(["status"]);
        assert.equal(st.code, 0, st.stdout + st.stderr);
        assert.match(st.stdout, new RegExp(`preview: .* \\(blue, release ${C}\\)`));
    });
});
