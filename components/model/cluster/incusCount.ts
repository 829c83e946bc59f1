// Counting Incus API round trips (BLUEGREEN_COUNT_INCUS): every `incus` command is one or more
// HTTPS calls to the daemon; its kind (exec, file pull, query...) says where the time goes.

/** Subcommands whose kind is two words (`file pull`, `config set`, `storage volume`...). An array: a serialized provider captures no Set. */
const GROUPS: readonly string[] = [
    "file",
    "config",
    "image",
    "storage",
    "cluster",
    "snapshot",
    "network",
    "profile",
    "project",
    "remote",
    "operation",
    "alias",
];

/** Pure: the kind of an `incus` command (`exec`, `file pull`, `storage volume snapshot`...), or undefined for any other program. */
export function incusKind(argv: readonly string[]): string | undefined {
    if (argv[0] !== "incus") return undefined;
    const words = argv.slice(1).filter((a) => !a.startsWith("-"));
    if (!words.length) return "incus";
    if (!GROUPS.includes(words[0]) || words.length < 2) return words[0];
    const two = `${words[0]} ${words[1]}`;
    return words[0] === "storage" && words[1] === "volume" && words[2] ? `${two} ${words[2]}` : two;
}

/** Pure: counts by kind from the lines of a count file (one kind a line), most frequent first, and their total. */
export function incusCounts(text: string): { total: number; byKind: [string, number][] } {
    const m = new Map<string, number>();
    for (const k of text.split("\n").filter(Boolean)) m.set(k, (m.get(k) ?? 0) + 1);
    const byKind = [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return { total: byKind.reduce((n, [, c]) => n + c, 0), byKind };
}

/** Pure: the line the runner prints: `[incus] 7 round trips: exec 3, file pull 2, query 2`. */
export function incusCountLine(text: string): string {
    const { total, byKind } = incusCounts(text);
    return `[incus] ${total} round trip${total === 1 ? "" : "s"}${byKind.length ? ": " + byKind.map(([k, n]) => `${k} ${n}`).join(", ") : ""}`;
}
