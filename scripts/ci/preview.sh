#!/usr/bin/env bash
# The plan of one stack as Markdown, fit for a pull-request comment, on stdout.
#   scripts/ci/preview.sh <stack>
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/ci/lib.sh
stack="$1"
valid_stack "$stack"
# Previews run on the production Incus host: only for pull requests from this repository.
# The workflow's `if:` skips forks; this refuses one if the trigger is ever changed.
if [[ -n "${GITHUB_EVENT_PATH:-}" && -f "$GITHUB_EVENT_PATH" ]]; then
  fork="$(node -e '
    const e = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const head = e.pull_request && e.pull_request.head && e.pull_request.head.repo && e.pull_request.head.repo.full_name;
    const base = e.repository && e.repository.full_name;
    if (e.pull_request && head !== base) console.log(`pull request ${e.pull_request.number} comes from the fork ${head || "(deleted)"}: previews run only for pull requests from ${base}`);
  ' "$GITHUB_EVENT_PATH")"
  if [[ -n "$fork" ]]; then echo "refusing to preview: $fork; nothing ran (README: Workflows)" >&2; exit 3; fi
fi
require_persistent_backend
if command -v pulumi >/dev/null 2>&1; then
  printf '### `pulumi preview` of stack `%s`\n\n```diff\n' "$stack"
  pulumi preview --stack "$stack" --diff --non-interactive 2>&1
  printf '```\n'
else
  pulumi_or_runner preview "$stack" --markdown
fi
