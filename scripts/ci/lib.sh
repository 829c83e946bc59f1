# Shared by the CI scripts: run a Pulumi verb on a stack with the Pulumi CLI when this
# machine has it, and with the project's offline runner otherwise.
# shellcheck shell=bash

pulumi_or_runner() {
  local verb="$1" stack="$2"
  shift 2
  if command -v pulumi >/dev/null 2>&1; then
    pulumi "$verb" --stack "$stack" --non-interactive "$@"
  else
    npm run --silent local -- "$verb" --stack "$stack" "$@"
  fi
}

valid_stack() {
  [[ "$1" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "invalid stack name: $1" >&2; exit 2; }
}

# The stack's state must outlive the checkout, which actions/checkout cleans (`.state` with
# it): refuse to run unless PULUMI_BACKEND_URL points outside it. A file:// directory is
# created, root-only.
require_persistent_backend() {
  local url="${PULUMI_BACKEND_URL:-}" dir real
  if [[ -z "$url" ]]; then
    echo "PULUMI_BACKEND_URL is not set, so the state would be the checkout's .state, which a CI checkout starts without. Set it in the workflow (file:///var/lib/bluegreen/state, or s3://...); nothing was run." >&2
    exit 2
  fi
  [[ "$url" == file://* ]] || return 0
  dir="${url#file://}"
  real="$(realpath -m "$dir")"
  if [[ "$dir" != /* || "$real" == "$(pwd -P)" || "$real" == "$(pwd -P)"/* ]]; then
    echo "PULUMI_BACKEND_URL=$url is inside the checkout, which CI cleans; use an absolute path outside it (file:///var/lib/bluegreen/state); nothing was run." >&2
    exit 2
  fi
  mkdir -p -m 0700 "$real"
}
