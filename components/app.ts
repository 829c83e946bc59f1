// The whole application on one stack: a ColorStack per present color, HAProxy in
// front, and the switch that points HAProxy at the active color. Wiring only: every
// input comes from plan.ts.

import { shortWindowWarnings } from "./model/rollout/load";
import * as pulumi from "@pulumi/pulumi";
import { ColorStack } from "./colorStack";
import type { StackConfig } from "./model/config";
import { COLORS, Color } from "./model/naming";
import type { StackPlacement } from "./model/cluster/placement";
import { hookCommand } from "./hooks";
import {
    canaryInputs,
    acmeInputs,
    certificatesInputs,
    frontendUrl,
    haproxyInputs,
    hookContext,
    lockInputs,
    prometheusInputs,
    retentionInputs,
    servingGuard,
    statefulInputs,
    switchInputs,
    maintenanceInputs,
} from "./plan";
import { Canary } from "./providers/canary";
import { Haproxy } from "./providers/haproxy";
import { DeployLock, DeployUnlock } from "./providers/lock";
import { Prometheus } from "./providers/prometheus";
import { Retention } from "./providers/retention";
import { StatefulService } from "./providers/stateful";
import { Switch } from "./providers/switch";
import { Certificates } from "./providers/tls";
import { AcmeCertificate } from "./providers/acme";
import { parseCertificates } from "./model/edge/tls";
import { Maintenance } from "./providers/maintenance";
import { watchHealthy } from "./upProgress";

export interface BlueGreenAppArgs {
    /** The validated stack config (see components/model/config.ts). */
    readonly config: StackConfig;
    /** Token for an http artifact store; stays a Pulumi secret. */
    readonly artifactToken?: pulumi.Input<string>;
    /** bluegreen:secretEnv: the components' secret environment, as JSON; stays a Pulumi secret. */
    readonly secretEnv?: pulumi.Input<string>;
    /** BLUEGREEN_ADOPT=1: an up from an empty state adopts what is live, for this run. */
    readonly adoptOnce?: boolean;
    /** On a cluster: every instance's member and routed address, read and placed before planning (index.ts). */
    readonly placement?: StackPlacement;
    /** bluegreen:tls.certificates' text (validated by loadConfig); stays a Pulumi secret. */
    readonly tlsCertificates?: pulumi.Input<string>;
}

export class BlueGreenApp extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly activeColor: pulumi.Output<Color>;
    public readonly releases: pulumi.Output<Partial<Record<Color, string>>>;
    public readonly containerNames: pulumi.Output<Partial<Record<Color, Record<string, string>>>>;
    public readonly stacks: Partial<Record<Color, ColorStack>> = {};
    public readonly haproxy: Haproxy;
    /** Present with bluegreen:canary: the serving color's in-place releases. */
    public readonly canary?: Canary;
    /** Present with bluegreen:prometheus (or a canary): the scrape targets, and on dev the server. */
    public readonly prometheus?: Prometheus;
    public readonly switch: Switch;
    /** Present with bluegreen:tls.certificates: the files HAProxy's TLS listeners load. */
    public readonly certificates?: Certificates;
    /** Present with bluegreen:tls.acme: the certificate ordered and renewed from the CA. */
    public readonly acme?: AcmeCertificate;
    /** Taken by every up before any other step; everything depends on it. */
    public readonly lock: DeployLock;
    /** One per bluegreen:stateful entry: singletons beside the colors, upgraded under guard. */
    public readonly stateful: Record<string, StatefulService> = {};

    constructor(name: string, args: BlueGreenAppArgs, opts?: pulumi.ComponentResourceOptions) {
        super("bluegreen:index:App", name, {}, opts);
        const { config } = args;
        const guard = servingGuard(config);
        const hooks = config.hooks;
        const mode = pulumi.runtime.isDryRun() ? "preview" : "up";
        // Seed 002: 300 s at least on a real stack; short windows stay possible for tests.
        if (mode === "preview") for (const w of shortWindowWarnings(config)) void pulumi.log.warn(w);
        const lockArgs = lockInputs(config, mode, args.adoptOnce ?? false);
        this.lock = new DeployLock(`${name}-lock`, lockArgs, { parent: this });
        const locked = { parent: this, dependsOn: [this.lock] };
        this.haproxy = new Haproxy(`${name}-haproxy`, haproxyInputs(config, args.placement), locked);
        const scraping = prometheusInputs(config, args.placement);
        // In the HAProxy instance (prometheus.placement: incus), it needs that instance first.
        if (scraping)
            this.prometheus = new Prometheus(`${name}-prometheus`, scraping, scraping.instance ? { ...locked, dependsOn: [this.lock, this.haproxy] } : locked);
        const certs = certificatesInputs(config);
        if (certs && (args.tlsCertificates || config.acme)) {
            const bundles = args.tlsCertificates ? pulumi.secret(args.tlsCertificates).apply((t) => parseCertificates(t).bundles) : {};
            this.certificates = new Certificates(
                `${name}-certificates`,
                { ...certs, certificates: bundles },
                { ...locked, dependsOn: [this.lock, this.haproxy] },
            );
        }
        const canary = canaryInputs(config, args.placement);
        if (canary) {
            this.canary = new Canary(
                `${name}-canary`,
                { ...canary, ...(args.artifactToken ? { artifactToken: pulumi.secret(args.artifactToken) } : {}) },
                { parent: this, dependsOn: [this.haproxy, ...(this.prometheus ? [this.prometheus] : [])] },
            );
        }
        // Their records live beside the active-color history on the HAProxy host.
        for (const inputs of statefulInputs(config, args.placement)) {
            this.stateful[inputs.service] = new StatefulService(
                `${name}-stateful-${inputs.service}`,
                { ...inputs, ...(args.artifactToken ? { artifactToken: pulumi.secret(args.artifactToken) } : {}) },
                { parent: this, dependsOn: [this.haproxy] },
            );
        }
        const postDeploy: Partial<Record<Color, pulumi.Resource>> = {};
        const preDeploys: pulumi.Resource[] = [];
        for (const color of COLORS) {
            const spec = config.colors[color];
            if (!spec) continue;
            const pre = hooks.preDeploy ? [hookCommand(`${name}-preDeploy-${color}`, hooks.preDeploy, hookContext(config, "preDeploy", color), locked)] : [];
            preDeploys.push(...pre);
            const first = color === config.active && this.canary ? [this.canary] : [];
            this.stacks[color] = new ColorStack(
                color,
                {
                    config,
                    placement: args.placement,
                    color,
                    release: spec.release,
                    guard,
                    artifactToken: args.artifactToken,
                    secretEnv: args.secretEnv,
                    // After HAProxy, so a destroy deletes them while the guard can still read the live color there.
                    dependsOn: [this.lock, this.haproxy, ...pre, ...first],
                },
                { parent: this },
            );
            if (hooks.postDeploy) {
                const after = Object.values(this.stacks[color]!.containers);
                postDeploy[color] = hookCommand(`${name}-postDeploy-${color}`, hooks.postDeploy, hookContext(config, "postDeploy", color), {
                    parent: this,
                    dependsOn: after,
                });
            }
        }
        // "N of M containers healthy, ~T left" while a long up creates them.
        watchHealthy(Object.values(this.stacks).flatMap((s) => Object.values(s!.containers).map((c) => c.healthy)));
        // Only the target color gates the switch: a failed inactive color must never block a flip.
        const targets = Object.values(this.stacks[config.active]!.containers);
        const deployed = postDeploy[config.active] ? [postDeploy[config.active]!] : [];
        const preSwitch = hooks.preSwitch
            ? [
                  hookCommand(`${name}-preSwitch`, hooks.preSwitch, hookContext(config, "preSwitch", config.active), {
                      parent: this,
                      dependsOn: [this.haproxy, ...targets, ...deployed],
                  }),
              ]
            : [];
        // A progressive shift reads SLIs: Prometheus must scrape both colors first.
        const sli = config.progressive && this.prometheus ? [this.prometheus] : [];
        // The config it writes loads the certificate files: they are on the host first.
        const tls = this.certificates ? [this.certificates] : [];
        this.switch = new Switch(`${name}-switch`, switchInputs(config, args.placement), {
            parent: this,
            dependsOn: [this.haproxy, ...targets, ...deployed, ...preSwitch, ...sli, ...tls],
        });
        // After the switch, which renders the rule that reads the map it sets.
        const maintenance = maintenanceInputs(config);
        const maint = maintenance ? [new Maintenance(`${name}-maintenance`, maintenance, { parent: this, dependsOn: [this.switch] })] : [];
        // After the switch: the CA's HTTP-01 request is answered by the config the switch loaded.
        const acme = acmeInputs(config);
        if (acme) this.acme = new AcmeCertificate(`${name}-acme`, acme, { ...locked, dependsOn: [this.lock, this.switch] });
        const postSwitch = hooks.postSwitch
            ? [
                  hookCommand(`${name}-postSwitch`, hooks.postSwitch, hookContext(config, "postSwitch", config.active), {
                      parent: this,
                      dependsOn: [this.switch],
                  }),
              ]
            : [];
        // Last: only a successful up prunes, and never while anything could still need a release.
        const retention = retentionInputs(config, mode);
        let retained: Retention | undefined;
        if (retention) {
            const everything = [
                this.switch,
                ...postSwitch,
                ...Object.values(postDeploy),
                ...Object.values(this.stacks).flatMap((st) => Object.values(st!.containers)),
                ...Object.values(this.stateful),
                ...(this.canary ? [this.canary] : []),
            ];
            retained = new Retention(`${name}-retention`, retention, { parent: this, dependsOn: everything });
        }
        // Last of all, on every step directly: frees the lock only after a successful up, and is a
        // destroy's first delete, which takes it.
        const steps = [
            this.lock,
            this.haproxy,
            this.switch,
            ...maint,
            ...preDeploys,
            ...preSwitch,
            ...postSwitch,
            ...Object.values(postDeploy),
            ...Object.values(this.stacks).flatMap((st) => Object.values(st!.containers)),
            ...Object.values(this.stateful),
            ...(this.canary ? [this.canary] : []),
            ...(this.prometheus ? [this.prometheus] : []),
            ...(retained ? [retained] : []),
            ...tls,
            ...(this.acme ? [this.acme] : []),
        ];
        new DeployUnlock(`${name}-unlock`, lockArgs, { parent: this, dependsOn: steps });

        // With a remote, the frontend listens on the remote's address, which only its Incus knows.
        this.url = config.incus.remote ? this.haproxy.address.apply((a) => frontendUrl(config, a)) : pulumi.output(frontendUrl(config));
        this.activeColor = this.switch.active;
        this.releases = pulumi.output(Object.fromEntries(Object.entries(config.colors).map(([c, s]) => [c, s!.release])));
        this.containerNames = pulumi.output(Object.fromEntries(Object.entries(this.stacks).map(([c, s]) => [c, { ...s!.containerNames }]))) as pulumi.Output<
            Partial<Record<Color, Record<string, string>>>
        >;
        this.registerOutputs({ url: this.url, activeColor: this.activeColor, releases: this.releases });
    }
}
