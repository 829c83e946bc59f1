import assert from "node:assert/strict";
import { incusCountLine, incusCounts, incusKind } from "../../../../components/model/cluster/incusCount";

describe("incusCount: Incus round trips by kind", () => {
    it("names the kind of each incus command, flags and remotes aside", () => {
        const cases: [string[], string | undefined][] = [
            [["incus", "exec", "r:bg-haproxy", "--", "socat", "-", "UNIX:/run/x"], "exec"],
            [["incus", "file", "pull", "r:bg-haproxy/var/lib/x", "-"], "file pull"],
            [["incus", "file", "push", "--create-dirs", "--quiet", "/tmp/a", "r:h/f"], "file push"],
            [["incus", "query", "r:/1.0/instances?recursion=1"], "query"],
            [["incus", "list", "r:", "--format", "json"], "list"],
            [["incus", "config", "set", "r:i", "a=b"], "config set"],
            [["incus", "storage", "volume", "snapshot", "create", "r:default", "v", "s"], "storage volume snapshot"],
            [["incus", "cluster", "list", "r:", "--format", "json"], "cluster list"],
            [["incus", "start", "i", "--quiet"], "start"],
            [["incus", "--version"], "incus"],
            [["haproxy", "-c", "-f", "x"], undefined],
            [["socat", "-", "UNIX:/x"], undefined],
        ];
        for (const [argv, kind] of cases) assert.equal(incusKind(argv), kind, argv.join(" "));
    });

    it("counts the lines of a count file by kind, most frequent first, and says the total", () => {
        const text = "exec\nquery\nexec\nfile pull\nexec\nquery\n";
        assert.deepEqual(incusCounts(text), {
            total: 6,
            byKind: [
                ["exec", 3],
                ["query", 2],
                ["file pull", 1],
            ],
        });
        assert.equal(incusCountLine(text), "[incus] 6 round trips: exec 3, query 2, file pull 1");
        assert.equal(incusCountLine(""), "[incus] 0 round trips");
        assert.equal(incusCountLine("list\n"), "[incus] 1 round trip: list 1");
    });
});
