// A user's own app, which knows nothing of bluegreen: a static site served by busybox
// httpd, packaged from a directory with `npm run publish`. It answers no x-color or
// x-release header; HAProxy says which color and release answered. The full cycle:
// deploy, switch, fast rollback, full rollback, cleanup.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { ROOT, TestStack, eventually, httpGet, instance } from "../../harness/stack";
import { makeTmp, removeTmp } from "../helpers/tmp";

const A = "5a1a0001";
const B = "5b1b0002";
const COMPONENTS = ["web", "files"];

describe("e2e: a user's own app, deployed through the whole cycle", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "own", basePort: 19600 });
    let src: string;

    /** The fixture site, with an index naming its version. */
    function site(version: string): string {
        const dir = path.join(src, version);
        fs.cpSync(path.join(ROOT, "test/fixtures/static-app"), dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "www/index.html"), `<h1>version ${version}</h1>\n`);
        return dir;
    }

    before(async () => {
        s.reset();
        src = makeTmp("bluegreen-own-");
        s.config.components = {
            web: { hostPort: s.componentPort("backend", "blue"), route: "/", healthBody: "ok" },
            files: { hostPort: s.componentPort("stream", "blue"), route: "/files" },
        };
        s.setColors({ blue: A }, "blue");
        for (const release of [A, B]) {
            const dir = site(release);
            for (const c of COMPONENTS) {
                const r = s.publishDir(c, release, dir);
                assert.equal(r.code, 0, r.stderr);
                assert.match(r.stdout, new RegExp(`${c} ${release}: published in artifact directory`));
            }
        }
    });
    after(async () => {
        await s.teardown();
        removeTmp(src);
    });

    /** Through the frontend: HAProxy names the color and release, and the site is the one deployed. */
    async function assertServing(color: string, release: string): Promise<void> {
        await eventually(async () => (await s.get("/")).color === color, `the frontend to serve ${color}`);
        for (const p of ["/", "/files/"]) {
            const r = await s.get(p);
            assert.deepEqual(r, { status: 200, color, release }, p);
        }
        const body = await fetch(`http://127.0.0.1:${s.frontendPort}/`).then((r) => r.text());
        assert.equal(body, `<h1>version ${release}</h1>\n`);
    }

    it("publishing the same directory again is a no-op", async () => {
        const r = s.publishDir("web", A, site(A));
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /unchanged/);
    });

    it("deploy: blue serves the site; HAProxy names blue and its release", async () => {
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        const direct = await httpGet(`http://127.0.0.1:${s.componentPort("backend", "blue")}/health`);
        assert.deepEqual(direct, { status: 200, color: undefined, release: undefined }, "the app answers its health check without any header");
        await assertServing("blue", A);
    });

    it("deploy green and switch", async () => {
        s.setColors({ blue: A, green: B }, "green");
        await s.upOk();
        await assertServing("green", B);
    });

    it("fast rollback to blue, over the runtime API", async () => {
        s.config.active = "blue";
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /weights flipped to blue over the runtime API/);
        await assertServing("blue", A);
    });

    it("cleanup of blue after switching back to green, then a full rollback recreates blue from the store", async () => {
        s.config.active = "green";
        await s.upOk();
        s.setColors({ green: B }, "green");
        await s.upOk();
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "blue")), undefined, `${c}-blue cleaned up`);
        await assertServing("green", B);

        s.setColors({ blue: A, green: B }, "blue");
        await s.upOk();
        await assertServing("blue", A);
    });

    it("cleanup of green", async () => {
        s.setColors({ blue: A }, "blue");
        await s.upOk();
        for (const c of COMPONENTS) assert.equal(instance(s.containerName(c, "green")), undefined);
        await assertServing("blue", A);
    });
});
