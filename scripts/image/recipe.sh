# shellcheck shell=bash
# The base image's recipe, sourced by setup-host.sh (which builds it) and cluster.sh (which
# imports the same rootfs into its own daemons). The hash names the rootfs cache
# (<cache>/rootfs-<hash>) and the image property bluegreen.recipe.
# Packages baked into the image: iproute2 brings lo up, nodejs runs the example app,
# busybox's httpd serves the plain static app of the tests (an app that knows nothing
# of bluegreen), haproxy and socat serve the staging/prod "<prefix>haproxy" instance.
IMAGE_PACKAGES="iproute2,nodejs,busybox,haproxy,socat,ca-certificates"
IMAGE_INIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/init"

recipe_hash() {
  { echo "$IMAGE_PACKAGES"; cat "$IMAGE_INIT"; } | sha256sum | cut -c1-16
}
