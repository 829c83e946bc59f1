// The program's progress during a long `up` (model/rollout/upProgress.ts): it watches each
// container's `healthy` output, so the line comes from the program under `pulumi up` as under
// the runner. Nothing in a preview, where a new container's outputs are unknown.

import * as pulumi from "@pulumi/pulumi";
import { progress } from "./io/progress";
import { PROGRESS_EVERY_MS, UpProgress, containerHealthy, progressTick, startProgress } from "./model/rollout/upProgress";

export function watchHealthy(healthy: readonly pulumi.Output<boolean>[], now: () => number = Date.now, say: (line: string) => void = progress): void {
    if (pulumi.runtime.isDryRun() || healthy.length === 0) return;
    let p: UpProgress = startProgress(healthy.length, now());
    const step = (r: { next: UpProgress; line?: string }) => {
        p = r.next;
        if (r.line) say(r.line);
        if (p.healthyAt.length >= p.total) clearInterval(timer);
    };
    // Unref'd: it never keeps the program alive, as when a container fails and never answers.
    const timer = setInterval(() => step(progressTick(p, now())), PROGRESS_EVERY_MS);
    timer.unref();
    for (const h of healthy) {
        h.apply((ok) => {
            if (ok) step(containerHealthy(p, now()));
        });
    }
}
