// runner/host.ts's transport: long strings leave as one Buffer, byte for byte what
// google-protobuf writes itself, so the host and the engine see the same message.

import assert from "node:assert/strict";
import { createRequire } from "module";
import "../../runner/host"; // installs fastLongStrings in this process

const sdkRequire = createRequire(require.resolve("@pulumi/pulumi/package.json"));
const structproto = sdkRequire("google-protobuf/google/protobuf/struct_pb");
const Writer = sdkRequire("google-protobuf").BinaryWriter;

function encodeBoth(value: Record<string, unknown>): { fast: Buffer; original: Buffer } {
    const fast = Buffer.from(structproto.Struct.fromJavaScript(value).serializeBinary());
    const patched = Writer.prototype.writeString;
    Writer.prototype.writeString = Writer.prototype.bluegreenWriteString;
    try {
        return { fast, original: Buffer.from(structproto.Struct.fromJavaScript(value).serializeBinary()) };
    } finally {
        Writer.prototype.writeString = patched;
    }
}

describe("runner/host transport: long strings", () => {
    it("is installed", () => assert.equal(Writer.prototype.bluegreenFast, true));

    it("encodes provider-sized text, non-ASCII and astral characters byte for byte as google-protobuf does", () => {
        const code = "function f() { return `é ✓ 𝄞 \\u0000`; }\n".repeat(4000);
        const { fast, original } = encodeBoth({ __provider: code, short: "x", nested: { list: [code, 1, true, null] } });
        assert.ok(original.length > 300_000);
        assert.ok(fast.equals(original));
        const back = structproto.Struct.deserializeBinary(new Uint8Array(fast)).toJavaScript();
        assert.equal(back.__provider, code);
    });

    it("leaves a lone surrogate to google-protobuf's own encoding", () => {
        const odd = "a".repeat(5000) + "\ud800" + "b".repeat(10);
        const { fast, original } = encodeBoth({ odd });
        assert.ok(fast.equals(original));
    });
});
