// The active-color record on the HAProxy host, as in the seeds' /var/lib/veza/active-color:
// one word naming the color HAProxy serves, plus an append-only history of switches.

import { COLORS, Color } from "../../model/naming";
import { HaproxyHost, appendHostFile, readHostFile, writeHostFile } from "../../io/haproxyHost";

export function activeColorPath(stateDir: string): string {
    return `${stateDir}/active-color`;
}

export function historyPath(stateDir: string): string {
    return `${stateDir}/history`;
}

/** Pure: the color named by the file's text, or undefined for an empty or unknown word. */
export function parseActiveColor(text: string | undefined): Color | undefined {
    const word = (text ?? "").trim();
    return (COLORS as readonly string[]).includes(word) ? (word as Color) : undefined;
}

/** Pure: one history line, `<UTC ISO 8601> <color> <release>`. */
export function historyLine(at: Date, color: Color | "none", release: string): string {
    return `${at.toISOString().replace(/\.\d{3}Z$/, "Z")} ${color} ${release}\n`;
}

/** The live active color, or undefined when nothing has been switched on yet. */
export async function readActiveColor(host: HaproxyHost, stateDir: string): Promise<Color | undefined> {
    return parseActiveColor(await readHostFile(host, activeColorPath(stateDir)));
}

/** Records a switch: the state file is replaced atomically, then history gets a line. */
export async function recordActiveColor(host: HaproxyHost, stateDir: string, color: Color, release: string, at = new Date()): Promise<void> {
    await writeHostFile(host, activeColorPath(stateDir), `${color}\n`);
    await appendHostFile(host, historyPath(stateDir), historyLine(at, color, release));
}

/** Records that no color serves traffic any more (the switch was destroyed). */
export async function clearActiveColor(host: HaproxyHost, stateDir: string, at = new Date()): Promise<void> {
    await writeHostFile(host, activeColorPath(stateDir), "");
    await appendHostFile(host, historyPath(stateDir), historyLine(at, "none", "-"));
}
