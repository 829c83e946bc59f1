// Silences progress() (components/progress.ts) for the enclosing describe block.

export function quietProgress(): void {
    let saved: string | undefined;
    before(() => {
        saved = process.env.BLUEGREEN_QUIET;
        process.env.BLUEGREEN_QUIET = "1";
    });
    after(() => {
        if (saved === undefined) delete process.env.BLUEGREEN_QUIET;
        else process.env.BLUEGREEN_QUIET = saved;
    });
}
