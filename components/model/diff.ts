// Which inputs changed, for the providers' diff. Values compare by JSON, as the engine's
// gRPC structs do. Pure.

export function changedKeys<T extends object>(olds: Partial<T>, news: T, keys: readonly (keyof T)[]): (keyof T)[] {
    return keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}
