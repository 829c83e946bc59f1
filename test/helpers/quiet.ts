// Silences progress() (components/progress.ts) for the enclosing describe block.

import { setEnv } from "./tmp";

export function quietProgress(): void {
    let restore: (() => void) | undefined;
    before(() => {
        restore = setEnv({ BLUEGREEN_QUIET: "1" });
    });
    after(() => restore?.());
}
