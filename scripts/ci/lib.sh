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
