// A reader of uncompressed tar archives held in memory, enough to look inside a
// release tarball without temp files or a `tar` process. Pure.
//
// Reads POSIX ustar (with its name prefix), GNU tar's long names (`././@LongLink`,
// type L) and pax extended headers (`path` and `size`), which covers what GNU tar
// and bsdtar write. Every header's checksum is verified, so a corrupt or truncated
// archive is an error instead of garbage.

const BLOCK = 512;

/**
 * The most a release tarball may unpack to when bluegreen reads it in memory (the migration
 * guard, in `check`): a gzip bomb is refused at this size instead of taking the host down.
 */
export const MAX_RELEASE_UNPACKED_BYTES = 1024 ** 3;

export type TarEntryType = "file" | "directory" | "link" | "other";

export interface TarEntry {
    /** The path as stored, e.g. `./migrations/0003_add_email.sql`. */
    readonly name: string;
    readonly type: TarEntryType;
    /** The content of a file; empty for every other type. */
    readonly data: Uint8Array;
}

/** A decoder per call: Pulumi's closure serializer cannot carry a captured TextDecoder into a provider. */
const utf8 = (bytes: Uint8Array): string => new TextDecoder("utf-8").decode(bytes);

function field(header: Uint8Array, start: number, length: number): Uint8Array {
    const bytes = header.subarray(start, start + length);
    const nul = bytes.indexOf(0);
    return nul < 0 ? bytes : bytes.subarray(0, nul);
}

function text(header: Uint8Array, start: number, length: number): string {
    return utf8(field(header, start, length));
}

/** A numeric field: octal ASCII, or GNU's base-256 when the first byte has its high bit set. */
function numeric(header: Uint8Array, start: number, length: number, what: string, offset: number): number {
    const bytes = header.subarray(start, start + length);
    if (bytes[0] & 0x80) {
        // Two's complement: 0x40 is the sign bit, and no size or count is negative.
        if (bytes[0] & 0x40) throw new Error(`tar: negative ${what} in the header at byte ${offset}`);
        let n = bytes[0] & 0x3f;
        for (const b of bytes.subarray(1)) n = n * 256 + b;
        return n;
    }
    const s = String.fromCharCode(...field(header, start, length)).trim();
    if (s === "") return 0;
    if (!/^[0-7]+$/.test(s)) throw new Error(`tar: malformed ${what} ${JSON.stringify(s)} in the header at byte ${offset}`);
    return parseInt(s, 8);
}

function checksumOk(header: Uint8Array): boolean {
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
    const stored = String.fromCharCode(...field(header, 148, 8)).trim();
    return /^[0-7]+$/.test(stored) && sum === parseInt(stored, 8);
}

/** pax records, `<length> <key>=<value>\n`, where length counts the whole record. */
function paxRecords(data: Uint8Array): Map<string, string> {
    const out = new Map<string, string>();
    let i = 0;
    while (i < data.length) {
        const space = data.indexOf(0x20, i);
        if (space < 0) break;
        const digits = space - i <= 20 ? String.fromCharCode(...data.subarray(i, space)) : "";
        const length = /^[0-9]+$/.test(digits) ? Number(digits) : NaN;
        if (!Number.isSafeInteger(length) || length <= space - i || i + length > data.length || data[i + length - 1] !== 0x0a)
            throw new Error("tar: malformed pax extended header");
        const record = utf8(data.subarray(space + 1, i + length - 1));
        const eq = record.indexOf("=");
        if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
        i += length;
    }
    return out;
}

/** A pax `size`: decimal digits only (Number() would take -1536, 1e3 or 0x200). */
function paxSize(value: string, offset: number): number {
    if (!/^[0-9]{1,16}$/.test(value)) throw new Error(`tar: malformed pax size ${JSON.stringify(value.slice(0, 40))} before the header at byte ${offset}`);
    return Number(value);
}

function entryType(flag: string): TarEntryType {
    if (flag === "0" || flag === "\0" || flag === "7") return "file";
    if (flag === "5") return "directory";
    if (flag === "1" || flag === "2") return "link";
    return "other";
}

/**
 * Every entry of an uncompressed tar archive, in archive order. Throws on a corrupt or
 * truncated archive, including one that ends without its end-of-archive marker.
 */
export function readTar(archive: Uint8Array): TarEntry[] {
    const entries: TarEntry[] = [];
    let offset = 0;
    let longName: string | undefined;
    let pax = new Map<string, string>();
    while (offset + BLOCK <= archive.length) {
        const header = archive.subarray(offset, offset + BLOCK);
        if (header.every((b) => b === 0)) return entries; // the end-of-archive marker
        if (!checksumOk(header)) throw new Error(`tar: bad header checksum at byte ${offset} (corrupt or not a tar archive)`);
        const flag = String.fromCharCode(header[156]);
        const size = pax.has("size") ? paxSize(pax.get("size")!, offset) : numeric(header, 124, 12, "size", offset);
        const start = offset + BLOCK;
        if (!Number.isSafeInteger(size) || size < 0 || start + size > archive.length)
            throw new Error(`tar: truncated archive (an entry at byte ${offset} runs past the end)`);
        const data = archive.subarray(start, start + size);
        // Never backwards: a size of 0 still moves past the header, so the loop ends.
        offset = start + Math.ceil(size / BLOCK) * BLOCK;

        if (flag === "L") {
            longName = utf8(field(data, 0, data.length));
            continue;
        }
        if (flag === "x") {
            pax = paxRecords(data);
            continue;
        }
        if (flag === "g" || flag === "K") continue; // global pax defaults and GNU long link names name nothing we read

        // ustar ("ustar\0") splits a long path into prefix/name; GNU's "ustar  " uses those bytes for other things.
        const magic = String.fromCharCode(...header.subarray(257, 263));
        const prefix = magic === "ustar\0" ? text(header, 345, 155) : "";
        const name = pax.get("path") ?? longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
        const type = entryType(flag);
        entries.push({ name, type, data: type === "file" ? data : new Uint8Array(0) });
        longName = undefined;
        pax = new Map();
    }
    // Without the end marker, entries may be missing: refuse rather than answer for part of the archive.
    throw new Error("tar: truncated archive (no end-of-archive marker)");
}
