// Errors of wrong usage: the CLI exits 2 with the message. In a module of its own so the
// CLI can tell them apart without loading the project reader (and its YAML parser).

export class UsageError extends Error {}
