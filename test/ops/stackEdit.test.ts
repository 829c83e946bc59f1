import assert from "node:assert/strict";
import { removeColor, setActive } from "../../ops/stackEdit";

const FILE = `# The dev stack.
config:
  bluegreen:active: blue
  bluegreen:colors:
    blue:
      release: "a1b2c3d" # the old one
    green:
      release: "b4c5d6e"
  bluegreen:prefix: dev-
`;

describe("ops/stackEdit", () => {
    it("set-active changes only bluegreen:active, keeping comments and quoting", () => {
        assert.equal(setActive(FILE, "green"), FILE.replace("bluegreen:active: blue", "bluegreen:active: green"));
        assert.equal(setActive(FILE, "blue"), FILE);
    });

    it("set-active refuses a color that is not deployed", () => {
        const one = removeColor(FILE, "green");
        assert.throws(() => setActive(one, "green"), /green is not in bluegreen:colors: a fast rollback needs its containers; deploy it first/);
    });

    it("remove-color drops the color and nothing else; again is a no-op", () => {
        const out = removeColor(FILE, "green");
        assert.equal(out, FILE.replace('    green:\n      release: "b4c5d6e"\n', ""));
        assert.equal(removeColor(out, "green"), out);
    });

    it("remove-color refuses the active color", () => {
        assert.throws(() => removeColor(FILE, "blue"), /blue is bluegreen:active and serves traffic; switch to the other color first/);
    });
});
