import assert from "node:assert/strict";
import { readTar } from "../../../components/model/tar";
import { TarFormat, tarball } from "../../helpers/tarball";

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");
/** name -> content of the files, and the directories, of an archive. */
function contents(archive: Buffer): { files: Record<string, string>; dirs: string[] } {
    const entries = readTar(archive);
    return {
        files: Object.fromEntries(entries.filter((e) => e.type === "file").map((e) => [e.name, text(e.data)])),
        dirs: entries.filter((e) => e.type === "directory").map((e) => e.name),
    };
}

const LONG_DIR = `migrations/${"d".repeat(60)}/${"e".repeat(60)}`; // > 100 bytes: past ustar's name field
const LONG_FILE = `migrations/${"f".repeat(140)}.sql`; // > 100 bytes as a single component
const DEEP = `${"p".repeat(90)}/${"q".repeat(90)}/${"r".repeat(90)}/x.sql`; // > 255 bytes: past ustar's prefix + name

describe("model/tar readTar", () => {
    it("reads GNU tar's default format: files, directories, long names through ././@LongLink", () => {
        const archive = tarball(
            { start: "#!/bin/sh\n", "migrations/0001_init.sql": "CREATE TABLE t (id int);\n", [`${LONG_FILE}`]: "SELECT 1;\n", [`${DEEP}`]: "deep\n" },
            { gzip: false },
        );
        const { files, dirs } = contents(archive);
        assert.deepEqual(files, {
            "./start": "#!/bin/sh\n",
            "./migrations/0001_init.sql": "CREATE TABLE t (id int);\n",
            [`./${LONG_FILE}`]: "SELECT 1;\n",
            [`./${DEEP}`]: "deep\n",
        });
        assert.ok(dirs.includes("./") && dirs.includes("./migrations/"), JSON.stringify(dirs));
    });

    for (const format of ["posix", "ustar", "oldgnu"] as TarFormat[]) {
        it(`reads --format=${format}, including a name longer than 100 bytes`, () => {
            // ustar splits long paths into prefix + name; pax (posix) writes a path record; oldgnu a LongLink.
            const files = { "migrations/0002_a.sql": "SELECT 2;\n", [`${LONG_DIR}/0003_b.sql`]: "SELECT 3;\n" };
            assert.deepEqual(contents(tarball(files, { format, gzip: false })).files, {
                "./migrations/0002_a.sql": "SELECT 2;\n",
                [`./${LONG_DIR}/0003_b.sql`]: "SELECT 3;\n",
            });
        });
    }

    it("reads pax paths past 255 bytes and non-ASCII names", () => {
        const files = { [DEEP]: "deep\n", "migrations/0004_café.sql": "SELECT 'é';\n" };
        assert.deepEqual(contents(tarball(files, { format: "posix", gzip: false })).files, {
            [`./${DEEP}`]: "deep\n",
            "./migrations/0004_café.sql": "SELECT 'é';\n",
        });
    });

    it("keeps exact sizes across block boundaries: empty, 511, 512 and 513 bytes", () => {
        const sizes = [0, 511, 512, 513, 1025];
        const files = Object.fromEntries(sizes.map((n) => [`f${n}`, Buffer.alloc(n, 0x61)]));
        const entries = readTar(tarball(files, { gzip: false })).filter((e) => e.type === "file");
        assert.deepEqual(
            entries.map((e) => [e.name, e.data.length]),
            sizes.map((n) => [`./f${n}`, n]).sort(),
        );
        for (const e of entries)
            assert.ok(
                e.data.every((b) => b === 0x61),
                e.name,
            );
    });

    it("an empty archive (only the end marker) has no entries", () => {
        assert.deepEqual(readTar(new Uint8Array(1024)), []);
    });

    it("refuses a header whose checksum does not match (corruption, or not a tar)", () => {
        const archive = Buffer.from(tarball({ "a.sql": "SELECT 1;\n" }, { gzip: false }));
        archive[0] ^= 0x01; // the first header's name
        assert.throws(() => readTar(archive), /^Error: tar: bad header checksum at byte 0 \(corrupt or not a tar archive\)$/);
        assert.throws(() => readTar(Buffer.from("not a tar archive at all".padEnd(1024, "!"))), /bad header checksum/);
    });

    it("refuses a truncated archive: an entry past the end, or no end-of-archive marker", () => {
        const archive = tarball({ "a.sql": "x".repeat(2000) }, { gzip: false });
        const headers = readTar(archive).length;
        assert.equal(headers, 2);
        // Cut inside a.sql's data.
        assert.throws(() => readTar(archive.subarray(0, 1024 + 1024)), /truncated archive \(an entry at byte 512 runs past the end\)/);
        // Cut exactly after a.sql's data: every header is whole, but entries could be missing.
        assert.throws(() => readTar(archive.subarray(0, 512 + 512 + 2048)), /truncated archive \(no end-of-archive marker\)/);
        assert.throws(() => readTar(new Uint8Array(0)), /no end-of-archive marker/);
    });
});
