#!/usr/bin/env bash
# Run the service on a local minikube cluster with the Helm chart and values-minikube.yaml
# (app + throw-away Postgres and Redis), test it, and prove a zero-downtime rolling update.
#
#   scripts/minikube.sh up     start minikube if needed, build the image into it, helm upgrade --install --wait
#   scripts/minikube.sh test   helm test (GET /ready through the Service, from a pod running the app image)
#   scripts/minikube.sh roll   the cluster suite's rolling-update scenario against this profile:
#                              rollouts under in-cluster load, fails on any failed request
#                              (test/cluster/03-rollout.test.ts, in its own namespace)
#   scripts/minikube.sh suite  the whole cluster suite (npm run test:cluster) against this profile
#   scripts/minikube.sh down   helm uninstall and delete the namespace (the minikube cluster is kept)
#
# Settings (environment):
#   MINIKUBE_PROFILE  minikube profile, also the kube context used      (default: minikube)
#   NAMESPACE         namespace of the release                          (default: service-template)
#   RELEASE           Helm release name                                 (default: service-template)
#   IMAGE_REPOSITORY  image repository, must match the values           (default: service-template)
#   IMAGE_TAG         image tag                                         (default: dev)
#   BUILD             how the image gets into minikube: "minikube" (minikube image build)
#                     or "docker" (docker build on the host + minikube image load) (default: minikube)
#   TIMEOUT           helm/kubectl wait timeout                          (default: 5m)
#   CLUSTER_*         passed to the cluster suite (roll, suite), e.g. CLUSTER_ROLLOUTS=2,
#                     CLUSTER_DRAIN_MODES=preStop (see test/cluster/settings.ts)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PROFILE="${MINIKUBE_PROFILE:-minikube}"
NAMESPACE="${NAMESPACE:-service-template}"
RELEASE="${RELEASE:-service-template}"
IMAGE_REPOSITORY="${IMAGE_REPOSITORY:-service-template}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
BUILD="${BUILD:-minikube}"
TIMEOUT="${TIMEOUT:-5m}"

CHART=helm/service-template
VALUES="$CHART/values-minikube.yaml"
IMAGE="$IMAGE_REPOSITORY:$IMAGE_TAG"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"
}

# Always name the context: never deploy to whatever cluster kubectl happens to point at.
kubectl_() {
  if command -v kubectl >/dev/null 2>&1; then
    kubectl --context "$PROFILE" --namespace "$NAMESPACE" "$@"
  else
    minikube -p "$PROFILE" kubectl -- --context "$PROFILE" --namespace "$NAMESPACE" "$@"
  fi
}
helm_() { helm --kube-context "$PROFILE" --namespace "$NAMESPACE" "$@"; }

# Fullname as computed by the chart's _helpers.tpl (release name contains the chart name -> release name).
fullname() {
  if [[ "$RELEASE" == *service-template* ]]; then printf '%s' "$RELEASE"; else printf '%s-service-template' "$RELEASE"; fi
}

ensure_cluster() {
  need minikube "https://minikube.sigs.k8s.io/docs/start/"
  need helm "https://helm.sh/docs/intro/install/"
  if ! minikube -p "$PROFILE" status >/dev/null 2>&1; then
    log "starting minikube profile $PROFILE"
    minikube start -p "$PROFILE"
  fi
}

# build_image TAG CONTEXT [BUILD_ARG...]
build_image() {
  local tag="$1" context="$2"
  shift 2
  local args=()
  case "$BUILD" in
    minikube)
      # Builds inside the cluster's container runtime: the image is there for
      # imagePullPolicy Never without any registry.
      for a in "$@"; do args+=("--build-opt=build-arg=$a"); done
      log "building $tag inside minikube"
      minikube -p "$PROFILE" image build -t "$tag" "${args[@]}" "$context"
      ;;
    docker)
      need docker "or use BUILD=minikube"
      for a in "$@"; do args+=(--build-arg "$a"); done
      log "building $tag with docker and loading it into minikube"
      docker build -t "$tag" "${args[@]}" "$context"
      minikube -p "$PROFILE" image load "$tag"
      ;;
    *) die "BUILD must be minikube or docker, got '$BUILD'" ;;
  esac
}

cmd_up() {
  ensure_cluster
  build_image "$IMAGE" .
  log "helm upgrade --install $RELEASE (namespace $NAMESPACE)"
  # --wait: returns once the Deployments are rolled out, i.e. every pod passed its
  # startup and readiness probes (so Postgres, Redis and the migration are OK).
  # Rebuilding the same tag does not change the pod template, so force a restart when
  # the release already exists to pick up the new image.
  local existed=false
  if helm_ status "$RELEASE" >/dev/null 2>&1; then existed=true; fi
  helm_ upgrade --install "$RELEASE" "$CHART" \
    --create-namespace \
    --values "$VALUES" \
    --set-string "image.repository=$IMAGE_REPOSITORY" \
    --set-string "image.tag=$IMAGE_TAG" \
    --wait --timeout "$TIMEOUT"
  if [[ "$existed" == true ]]; then
    log "release existed: restarting pods to run the freshly built image"
    kubectl_ rollout restart "deployment/$(fullname)"
    kubectl_ rollout status "deployment/$(fullname)" --timeout "$TIMEOUT"
  fi
  kubectl_ get pods -o wide
  log "up. Next: $0 test, $0 roll; API: kubectl -n $NAMESPACE port-forward svc/$(fullname) 8080:80"
}

cmd_test() {
  ensure_cluster
  log "helm test $RELEASE"
  helm_ test "$RELEASE" --logs --timeout "$TIMEOUT"
}

# One implementation of the cluster checks: the suite in test/cluster. Its image (the app
# image plus test/fixtures, running the fixture server: test/fixtures/Dockerfile) is built
# into minikube here (BUILD), so the suite neither builds nor loads it (loader "none": the
# image is already on the node; IfNotPresent never pulls it).
run_suite() {
  ensure_cluster
  build_image "$IMAGE" .
  build_image "$IMAGE-fixture" test/fixtures "APP_IMAGE=$IMAGE"
  CLUSTER_CONTEXT="$PROFILE" CLUSTER_IMAGE_LOADER=none CLUSTER_IMAGE_BUILD=0 \
    IMAGE_REPOSITORY="$IMAGE_REPOSITORY" IMAGE_TAG="$IMAGE_TAG" \
    npx vitest run --config vitest.cluster.config.ts "$@"
}

cmd_roll() { run_suite test/cluster/03-rollout.test.ts; }
cmd_suite() { run_suite; }

cmd_down() {
  need helm "https://helm.sh/docs/intro/install/"
  log "helm uninstall $RELEASE"
  helm_ uninstall "$RELEASE" --wait --ignore-not-found
  kubectl_ delete namespace "$NAMESPACE" --ignore-not-found --wait=false
  log "down (the minikube cluster is still running: minikube -p $PROFILE stop)"
}

usage() {
  sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  up) cmd_up ;;
  test) cmd_test ;;
  roll) cmd_roll ;;
  suite) cmd_suite ;;
  down) cmd_down ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
