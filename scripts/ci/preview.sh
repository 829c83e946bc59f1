#!/usr/bin/env bash
# The plan of one stack as Markdown, fit for a pull-request comment, on stdout.
#   scripts/ci/preview.sh <stack>
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/ci/lib.sh
stack="$1"
valid_stack "$stack"
require_persistent_backend
if command -v pulumi >/dev/null 2>&1; then
  printf '### `pulumi preview` of stack `%s`\n\n```diff\n' "$stack"
  pulumi preview --stack "$stack" --diff --non-interactive 2>&1
  printf '```\n'
else
  pulumi_or_runner preview "$stack" --markdown
fi
