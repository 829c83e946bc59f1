// Edits of Pulumi.<stack>.yaml that the operator workflows commit, so the repository
// stays the source of truth: fast rollback sets bluegreen:active, cleanup removes a
// color. Comments and the rest of the file are kept (yaml's Document API).
//
//   npx ts-node --transpile-only ops/stackEdit.ts set-active <stack> <blue|green>
//   npx ts-node --transpile-only ops/stackEdit.ts remove-color <stack> <blue|green>

import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { COLORS, Color } from "../components/model/naming";

const ACTIVE = "bluegreen:active";
const COLORS_KEY = "bluegreen:colors";

function asColor(v: string): Color {
    if (!(COLORS as readonly string[]).includes(v)) throw new Error(`expected blue or green, got ${JSON.stringify(v)}`);
    return v as Color;
}

function load(text: string): YAML.Document {
    const doc = YAML.parseDocument(text);
    if (doc.errors.length > 0) throw new Error(`cannot parse the stack file: ${doc.errors[0].message}`);
    return doc;
}

/** Pure: the file with bluegreen:active set to `color`, which must be deployed. */
export function setActive(text: string, color: Color): string {
    const doc = load(text);
    if (!doc.hasIn(["config", COLORS_KEY, color])) {
        throw new Error(`${color} is not in ${COLORS_KEY}: a fast rollback needs its containers; deploy it first (set ${COLORS_KEY}.${color}.release)`);
    }
    doc.setIn(["config", ACTIVE], color);
    return doc.toString();
}

/** Pure: the file without `color` in bluegreen:colors. The active color is refused. */
export function removeColor(text: string, color: Color): string {
    const doc = load(text);
    const active = doc.getIn(["config", ACTIVE]);
    if (active === color) {
        throw new Error(`${color} is ${ACTIVE} and serves traffic; switch to the other color first (set-active), then clean ${color} up`);
    }
    if (!doc.hasIn(["config", COLORS_KEY, color])) return text;
    doc.deleteIn(["config", COLORS_KEY, color]);
    return doc.toString();
}

function main(argv: readonly string[]): void {
    const [verb, stack, colorArg] = argv;
    if (!["set-active", "remove-color"].includes(verb ?? "") || !stack || !colorArg) {
        throw new Error("usage: stackEdit.ts <set-active|remove-color> <stack> <blue|green>");
    }
    const file = path.resolve(`Pulumi.${stack}.yaml`);
    const color = asColor(colorArg);
    const before = fs.readFileSync(file, "utf8");
    const after = verb === "set-active" ? setActive(before, color) : removeColor(before, color);
    if (after === before) {
        process.stdout.write(`${file}: unchanged\n`);
        return;
    }
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, after);
    fs.renameSync(tmp, file);
    process.stdout.write(`${file}: ${verb} ${color}\n`);
}

if (require.main === module) {
    try {
        main(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`error: ${(e as Error).message}\n`);
        process.exit(1);
    }
}
