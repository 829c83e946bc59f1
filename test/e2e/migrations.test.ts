// The migration guard of a blue/green rollout, through the runner on real Incus and
// HAProxy: a release whose migrations old code cannot survive is refused before its
// containers exist, naming the file and line; comments cannot fake a finding; a
// warning rule is logged, or refuses with bluegreen:migrations.block; force overrides.

import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { TestStack, instance } from "../../harness/stack";

const A = "aaa7201";
const COMMENTED = "bbb7202";
const DROPS = "ccc7203";
const INDEX = "ddd7204";

describe("e2e: the migration guard of a blue/green rollout", function () {
    this.timeout(300_000);
    const s = new TestStack({ name: "migr", basePort: 19950 });
    const sql = (name: string, text: string) => {
        const file = path.join(s.dir, "sql", name);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
        return file;
    };
    const green = () => instance(`${s.prefix}web-green`);

    before(async () => {
        s.reset();
        s.config.components = { web: { hostPort: s.componentPort("web", "blue"), route: "/" } };
        const init = sql("0001_init.sql", "CREATE TABLE users (id bigint PRIMARY KEY, name text, email text);\n");
        await s.publish(A, undefined, [init]);
        await s.publish(COMMENTED, undefined, [
            init,
            sql(
                "0002_nick.sql",
                "-- ALTER TABLE users DROP COLUMN email;\n/* ALTER TABLE users DROP COLUMN name; */\nALTER TABLE users ADD COLUMN nick text;\n",
            ),
        ]);
        await s.publish(DROPS, undefined, [init, sql("0002_drop.sql", "SELECT 1;\n\nALTER TABLE users\n    DROP COLUMN email;\n")]);
        await s.publish(INDEX, undefined, [init, sql("0002_index.sql", "CREATE INDEX users_name ON users (name);\n")]);
        s.setColors({ blue: A }, "blue");
        await s.upOk();
    });
    after(async () => {
        await s.teardown();
    });

    it("a commented-out DROP COLUMN is no finding: green deploys", async () => {
        s.setColors({ blue: A, green: COMMENTED }, "blue");
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /migration guard: release bbb7202 of web: 1 new migration checked, no finding/);
        assert.equal(green()?.config["user.bluegreen.release"], COMMENTED);
    });

    it("a DROP COLUMN new to the serving release is refused, naming file and line; green keeps what it runs", async () => {
        s.setColors({ blue: A, green: DROPS }, "blue");
        const r = await s.up();
        assert.notEqual(r.code, 0);
        assert.match(
            r.stderr,
            /release ccc7203 of web carries a backward-incompatible migration: migrations\/0002_drop\.sql:3: DROP COLUMN users\.email \(ban-drop-column/,
        );
        assert.match(r.stderr, /set bluegreen:migrations\.force: true to override/);
        assert.equal(green()?.config["user.bluegreen.release"], COMMENTED, "the refused release never replaced green");
        assert.equal(green()?.status, "Running");
    });

    it("bluegreen:migrations.force rolls it out, and the override is logged", async () => {
        s.config.migrations = { force: true };
        const r = await s.up();
        delete s.config.migrations;
        assert.equal(r.code, 0, r.stderr);
        assert.match(
            r.stderr,
            /migration guard overridden by bluegreen:migrations\.force for release ccc7203 of web: migrations\/0002_drop\.sql:3: DROP COLUMN users\.email/,
        );
        assert.equal(green()?.config["user.bluegreen.release"], DROPS);
    });

    it("a CREATE INDEX without CONCURRENTLY is a warning; bluegreen:migrations.block makes it a refusal", async () => {
        s.config.migrations = { block: ["require-concurrent-index-creation"] };
        s.setColors({ blue: A, green: INDEX }, "blue");
        const refused = await s.up();
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /migrations\/0002_index\.sql:1: CREATE INDEX users_name ON users \(require-concurrent-index-creation/);
        assert.equal(green()?.config["user.bluegreen.release"], DROPS);
        delete s.config.migrations;
        const r = await s.up();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /migration guard warning for release ddd7204 of web: migrations\/0002_index\.sql:1: CREATE INDEX users_name ON users/);
        assert.equal(green()?.config["user.bluegreen.release"], INDEX);
    });
});
