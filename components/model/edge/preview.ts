// The preview route (Argo's previewService): requests that match go to the color that is not
// active. The rule names that color, so a switch changes the config's shape and reloads:
// the preview always follows the new idle color, with no runtime state to keep in step.

import { z } from "zod";
import { hostSpec } from "./routing";
import { Color } from "../naming";

const token = (what: string) =>
    z.string(`expected a ${what} name`).regex(/^[A-Za-z0-9_-]{1,64}$/, `expected a ${what} name of letters, digits, _ and - (up to 64)`);

export const previewSpec = z
    .strictObject({
        /** Requests whose Host header (without its port) is this name. */
        host: hostSpec.optional(),
        /** Requests carrying this header, whatever its value. */
        header: token("header").optional(),
        /** Requests carrying this cookie, whatever its value. */
        cookie: token("cookie").optional(),
        /** Every request on this loopback port (host placement). */
        port: z.int("expected an integer port").min(1, "expected a port from 1 to 65535").max(65535, "expected a port from 1 to 65535").optional(),
    })
    .refine((p) => Object.keys(p).length > 0, "expected at least one of host, header, cookie or port");

export type PreviewSpec = z.infer<typeof previewSpec>;

/** The frontend ACL a preview request matches: any of the spec's conditions (HAProxy ORs ACL lines of one name). */
export const PREVIEW_ACL = "bg_preview";

/** Pure: the ACL lines of the frontend. */
export function previewAcls(p: PreviewSpec): string[] {
    return [
        ...(p.host ? [`acl ${PREVIEW_ACL} hdr(host),field(1,:) -m str -i ${p.host}`] : []),
        ...(p.header ? [`acl ${PREVIEW_ACL} req.hdr(${p.header}) -m found`] : []),
        ...(p.cookie ? [`acl ${PREVIEW_ACL} req.cook(${p.cookie}) -m found`] : []),
        ...(p.port ? [`acl ${PREVIEW_ACL} dst_port ${p.port}`] : []),
    ];
}

/** A component's preview backend: the idle color's servers only. Not `be_`: no switch, drain or guard counts it. */
export function previewBackendName(component: string): string {
    return `pv_${component}`;
}

/** A preview server's name: not a color's, so the cleanup guard never reads it as that color's traffic. */
export function previewServerName(server: string): string {
    return `pv-${server}`;
}

/** Pure: how to reach the preview, for `status`, with the idle color's deployed release when it has one. */
export function previewUrl(p: PreviewSpec, frontendPort: number, idle: Color, release?: string): string {
    const base = `http://${p.host ?? "127.0.0.1"}:${p.port ?? frontendPort}/`;
    const how = [...(p.header ? [`header ${p.header}`] : []), ...(p.cookie ? [`cookie ${p.cookie}`] : [])];
    return `${base}${p.port || p.host ? "" : ` with ${how.join(" or ")}`} (${idle}${release ? `, release ${release}` : ""})`;
}
