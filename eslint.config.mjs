// Lint: typescript-eslint's recommended rules, no import cycles, and the layer
// boundaries of components/ (see the README's "Where things are").
import tseslint from "typescript-eslint";
import { importX, createNodeResolver } from "eslint-plugin-import-x";

const NODE_IO = ["fs", "os", "net", "http", "https", "child_process", "dgram", "tls"].flatMap((m) => [m, `node:${m}`]);
const outside = ["**/runner/**", "**/test/**", "**/example-app/**", "**/harness/**", "**/bench/**"];

/** One layer: what it may not import, as `no-restricted-imports` patterns. */
function layer(files, { groups = [], paths = [], message }) {
    return {
        files,
        rules: {
            "no-restricted-imports": [
                "error",
                {
                    paths: paths.map((name) => ({ name, message })),
                    patterns: [{ group: [...groups, ...outside], message }],
                },
            ],
        },
    };
}

export default tseslint.config(
    { ignores: ["node_modules/**", "test/fixtures/lint-cycle/**", "dist/**", "bin/**", ".state/**", ".artifacts/**", "bench/results/**"] },
    ...tseslint.configs.recommended,
    {
        plugins: { "import-x": importX },
        settings: {
            // no-cycle follows imports into other files, so it needs their parser too.
            "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
            "import-x/extensions": [".ts", ".js"],
            "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js", ".json"] })],
        },
        rules: {
            "import-x/no-cycle": ["error", { ignoreExternal: true }],
            // Tests and the engine handle Pulumi's untyped values; `any` stays a reviewed choice there.
            "@typescript-eslint/no-explicit-any": "off",
            // The registry helper's handler reads its state before the assignment that creates it.
            "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
            "@typescript-eslint/no-unused-vars": [
                "error",
                { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", caughtErrors: "none" },
            ],
        },
    },
    {
        files: ["scripts/**/*.js", "packages/**/*.js"],
        languageOptions: {
            sourceType: "commonjs",
            globals: { require: "readonly", module: "writable", process: "readonly", console: "readonly", __dirname: "readonly", __filename: "readonly" },
        },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    {
        files: ["example-app/**/*.js"],
        languageOptions: {
            sourceType: "commonjs",
            globals: {
                require: "readonly",
                module: "writable",
                process: "readonly",
                console: "readonly",
                __dirname: "readonly",
                Buffer: "readonly",
                setTimeout: "readonly",
            },
        },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    layer(["components/model/**"], {
        groups: ["**/io/**", "**/io", "**/release/**", "**/release", "**/providers/**", "**/providers", "**/plan", "**/app", "**/colorStack", "@pulumi/*"],
        paths: NODE_IO,
        message: "components/model is pure: no I/O, no @pulumi, no other layer.",
    }),
    layer(["components/io/**"], {
        groups: ["**/release/**", "**/release", "**/providers/**", "**/providers", "**/plan", "**/app", "**/colorStack", "@pulumi/*"],
        message: "components/io holds the seams and clients; it may import only components/model.",
    }),
    layer(["components/release/**"], {
        groups: ["**/providers/**", "**/providers", "**/plan", "**/app", "**/colorStack", "@pulumi/*"],
        message: "components/release holds the operations; it imports only model and io (providers adapt it to Pulumi).",
    }),
    layer(["components/providers/**"], {
        groups: ["**/plan", "**/app", "**/colorStack"],
        message: "components/providers import only release, model and io.",
    }),
    layer(["components/*.ts", "index.ts"], { message: "The program never imports the runner, tests, benchmarks or the example app." }),
    {
        files: ["runner/**"],
        rules: {
            // The runner drives SDK internals, which have no typings to import.
            "@typescript-eslint/no-require-imports": "off",
            "no-restricted-imports": [
                "error",
                {
                    patterns: [
                        {
                            regex: "^\\.\\./components/(?!io/exec$)",
                            message: "The runner imports only the process seam (components/io/exec) from components/.",
                        },
                    ],
                },
            ],
        },
    },
    {
        files: ["bench/**"],
        rules: {
            "no-restricted-imports": [
                "error",
                { patterns: [{ group: ["**/test/**"], message: "Benchmarks share code with tests through harness/, never test/helpers." }] },
            ],
        },
    },
);
