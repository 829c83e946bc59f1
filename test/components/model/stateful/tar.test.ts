import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import ts from "typescript";
import { Worker } from "worker_threads";
import { readTar } from "../../../../components/model/stateful/tar";
import { TarFormat, tarball } from "../../../helpers/tarball";

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

describe("model/stateful/tar readTar", () => {
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

// ---- Corrupt archives: refused (or parsed) in bounded time and memory, never a hang ----

/** A seeded PRNG (mulberry32): the same cases on every run. */
function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** A ustar header with a valid checksum; `size` is written into the size field as given (octal text, or raw bytes). */
function header(name: string, type: string, size: string | Uint8Array): Buffer {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, "utf8");
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    if (typeof size === "string") h.write(size.padEnd(11, " ").slice(0, 11) + "\0", 124, "latin1");
    else Buffer.from(size).copy(h, 124);
    h.write("00000000000\0", 136);
    h.write(type, 156);
    h.write("ustar\0", 257);
    h.write("00", 263);
    return withChecksum(h);
}

function withChecksum(h: Buffer): Buffer {
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    return h;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const END = Buffer.alloc(1024);

/** A pax extended header carrying `records` (`key=value`), then a file entry with `data`. */
function paxArchive(records: string[], data = Buffer.alloc(0)): Buffer {
    const body = Buffer.from(
        records
            .map((r) => {
                // The length counts itself: grow it until it is stable.
                let n = r.length + 3;
                while (`${n} ${r}\n`.length !== n) n = `${n} ${r}\n`.length;
                return `${n} ${r}\n`;
            })
            .join(""),
    );
    return Buffer.concat([
        header("./PaxHeaders/a.sql", "x", body.length.toString(8)),
        pad(body),
        header("./a.sql", "0", data.length.toString(8)),
        pad(data),
        END,
    ]);
}

interface FuzzCase {
    readonly what: string;
    readonly archive: Uint8Array;
    /** Must be refused: parsing it would mean a wrong answer. */
    readonly refuse?: boolean;
}

function fuzzCases(): FuzzCase[] {
    const rand = prng(20);
    const int = (n: number) => Math.floor(rand() * n);
    const bases = (["gnu", "posix", "ustar", "oldgnu"] as TarFormat[]).map((format) =>
        tarball(
            { start: "#!/bin/sh\n", "migrations/0001_init.sql": "CREATE TABLE t (id int);\n", [`${LONG_DIR}/a.sql`]: "x".repeat(700) },
            { format, gzip: false },
        ),
    );
    const cases: FuzzCase[] = [];
    // Negative sizes: pax (which once moved the offset backwards, forever) and GNU base-256.
    for (const size of ["-512", "-1024", "-1536", "-1", "-0", " -1536"])
        cases.push({ what: `pax size=${size}`, archive: paxArchive([`size=${size}`]), refuse: true });
    const negative256 = new Uint8Array(12).fill(0xff);
    cases.push({ what: "base-256 size -1", archive: Buffer.concat([header("./a", "0", negative256), END]), refuse: true });
    // Huge sizes, and sizes that are not plain decimal.
    for (const size of ["99999999999999999999", "9007199254740993", "1e400", "Infinity", "0x200", "1e3", "512.5", ""])
        cases.push({ what: `pax size=${JSON.stringify(size)}`, archive: paxArchive([`size=${size}`]), refuse: size !== "" });
    const huge256 = new Uint8Array(12).fill(0xff);
    huge256[0] = 0x80;
    cases.push({ what: "base-256 size 2^88", archive: Buffer.concat([header("./a", "0", huge256), END]), refuse: true });
    cases.push({ what: "octal size 8 GiB", archive: Buffer.concat([header("./a", "0", "77777777777"), END]), refuse: true });
    // pax records that lie about their own length.
    for (const body of ["0 size=1\n", "99999999999999999999 a=b\n", "-5 a=b\n", `${"9".repeat(5000)} a=b\n`, "12 path=x\n" + "1".repeat(3000)]) {
        const b = Buffer.from(body);
        cases.push({
            what: `pax record ${JSON.stringify(body.slice(0, 24))}`,
            archive: Buffer.concat([header("./P", "x", b.length.toString(8)), pad(b), END]),
            refuse: true,
        });
    }
    // Bad checksums, and truncation at every block boundary and at random bytes.
    for (const base of bases) {
        const broken = Buffer.from(base);
        broken[148] = 0x39; // not octal
        cases.push({ what: "checksum field not octal", archive: broken, refuse: true });
        const off = Buffer.from(base);
        off[0] ^= 0x20; // the first name, checksum not fixed
        cases.push({ what: "header altered, checksum not fixed", archive: off, refuse: true });
        // GNU tar pads to 10 KiB records: every cut up to the end marker loses it.
        let marker = base.length;
        while (marker > 0 && base[marker - 1] === 0) marker--;
        marker = Math.ceil(marker / 512) * 512;
        for (let cut = 0; cut <= marker; cut += 512) cases.push({ what: `cut at ${cut}`, archive: base.subarray(0, cut), refuse: true });
        for (let n = 0; n < 10; n++) {
            const cut = int(marker);
            cases.push({ what: `cut at ${cut}`, archive: base.subarray(0, cut), refuse: true });
        }
    }
    // Random byte flips: anywhere (mostly refused by the checksum), and inside headers with the checksum fixed up.
    for (let n = 0; n < 300; n++) {
        const base = bases[n % bases.length]!;
        const a = Buffer.from(base);
        const flips = 1 + int(8);
        const blocks = new Set<number>();
        for (let f = 0; f < flips; f++) {
            const at = n % 2 === 0 ? int(a.length) : 512 * int(a.length / 512) + (int(2) ? 124 + int(12) : int(512));
            a[at] = int(256);
            blocks.add(Math.floor(at / 512));
        }
        if (n % 2 === 1)
            for (const b of blocks) if (!a.subarray(b * 512, b * 512 + 512).every((x) => x === 0)) withChecksum(a.subarray(b * 512, b * 512 + 512) as Buffer);
        cases.push({ what: `random flips #${n}${n % 2 ? " (checksums fixed)" : ""}`, archive: a });
    }
    // Not tar at all.
    for (let n = 0; n < 20; n++) cases.push({ what: `random bytes #${n}`, archive: Uint8Array.from({ length: 512 * (1 + int(6)) }, () => int(256)) });
    return cases;
}

interface FuzzResult {
    readonly i: number;
    readonly outcome: "parsed" | "refused";
    readonly error?: boolean;
    readonly message?: string;
}

/**
 * Runs readTar over every case in a worker with a small heap, each case under a deadline:
 * a loop that never ends, or one that grows until out of memory, fails the case that caused it.
 */
async function runBounded(cases: readonly FuzzCase[], perCaseMs: number, heapMb: number): Promise<FuzzResult[]> {
    const source = ts.transpileModule(fs.readFileSync(path.join(__dirname, "../../../../components/model/stateful/tar.ts"), "utf8"), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const code = `
        const { parentPort, workerData } = require("worker_threads");
        const mod = { exports: {} };
        new Function("module", "exports", "require", workerData.source)(mod, mod.exports, require);
        workerData.cases.forEach((archive, i) => {
            try {
                mod.exports.readTar(archive);
                parentPort.postMessage({ i, outcome: "parsed" });
            } catch (e) {
                parentPort.postMessage({ i, outcome: "refused", error: e instanceof Error, message: e instanceof Error ? e.message : String(e) });
            }
        });`;
    const worker = new Worker(code, {
        eval: true,
        workerData: { source, cases: cases.map((c) => c.archive) },
        resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 8 },
    });
    const results: FuzzResult[] = [];
    try {
        await new Promise<void>((resolve, reject) => {
            const fail = (why: string) => reject(new Error(`case ${results.length} (${cases[results.length]?.what}): ${why}`));
            let timer = setTimeout(() => fail(`no answer within ${perCaseMs} ms`), perCaseMs);
            worker.on("message", (r: FuzzResult) => {
                results.push(r);
                clearTimeout(timer);
                if (results.length === cases.length) return resolve();
                timer = setTimeout(() => fail(`no answer within ${perCaseMs} ms`), perCaseMs);
            });
            worker.on("error", (e) => {
                clearTimeout(timer);
                fail(`the worker died: ${e.message}`);
            });
        });
    } finally {
        await worker.terminate();
    }
    return results;
}

describe("model/stateful/tar readTar on corrupt archives (seeded fuzz)", function () {
    this.timeout(60_000);

    it("refuses or parses each one in bounded time and memory, never hangs, and only throws Errors", async () => {
        const cases = fuzzCases();
        assert.ok(cases.length > 400, `${cases.length} cases`);
        // Generous: a case takes well under a millisecond; these bounds only catch a loop that never ends.
        const results = await runBounded(cases, 5_000, 48);
        const wrong = results.flatMap((r) => {
            const c = cases[r.i]!;
            if (r.outcome === "refused" && !r.error) return [`${c.what}: threw a non-Error ${r.message}`];
            if (r.outcome === "refused" && !/^tar: /.test(r.message ?? "")) return [`${c.what}: refused without saying tar: ${r.message}`];
            if (r.outcome === "parsed" && c.refuse) return [`${c.what}: parsed, should be refused`];
            return [];
        });
        assert.deepEqual(wrong, []);
        const refused = results.filter((r) => r.outcome === "refused").length;
        assert.ok(refused > cases.length / 2, `only ${refused} of ${cases.length} refused`);
    });
});
