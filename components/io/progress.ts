// Progress of long operations (health waits, switches). Providers run in Pulumi's
// dynamic-provider host, where stdout carries the gRPC port; stderr is safe.

/** Writes one progress line to stderr, unless BLUEGREEN_QUIET is set. */
export function progress(message: string): void {
    if (process.env.BLUEGREEN_QUIET) return;
    process.stderr.write(`[bluegreen] ${new Date().toISOString().slice(11, 23)} ${message}\n`);
}
