#!/usr/bin/env bash
# Deploys likewise into an existing kind cluster, as a user deploys it: manifests/common (the
# likewise-system namespace), likewise-scheduler as a second scheduler (pods opt in with
# spec.schedulerName: likewise-scheduler or notebook-scheduler; the rebalancer simulates it and
# watches its lease), the classifier and the rebalancer (in dry-run). Not for the cluster of
# hack/kind-up.sh, whose kube-scheduler already serves likewise-scheduler's names (replace mode).
# Needs docker, kind (KIND) and kubectl. KIND_SKIP_IMAGES=1: the images are loaded already.
# Usage: hack/kind-deploy.sh [cluster-name]   (default: likewise)
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-likewise}
kind=${KIND:-kind}
for tool in docker "$kind" kubectl; do
  command -v "$tool" >/dev/null || { echo "hack/kind-deploy.sh needs $tool" >&2; exit 1; }
done

if [[ -z ${KIND_SKIP_IMAGES:-} ]]; then
  make image
  "$kind" load docker-image likewise-scheduler:dev likewise:dev --name "$name"
fi

ctx="kind-${name}"
kubectl --context "$ctx" apply -k manifests/common
kubectl --context "$ctx" apply -k manifests/scheduler/base
kubectl --context "$ctx" apply -k manifests/classifier/base
kubectl --context "$ctx" apply -k manifests/rebalancer/base
for d in likewise-scheduler likewise-classifier likewise-rebalancer; do
  kubectl --context "$ctx" -n likewise-system rollout status "deployment/$d" --timeout=180s
done
cat <<MSG
likewise runs in ${ctx}:
  database pods:   spec.schedulerName: likewise-scheduler; label likewise.dev/classify=true to have them classified; see README
                   "Classifier" for the monitoring role and Secret
  notebook pods:   spec.schedulerName: notebook-scheduler
  rebalancer:      dry-run: read its Events (kubectl get events -A --field-selector
                   reportingComponent=likewise-rebalancer), then set --dry-run=false
  metrics:         /metrics over HTTPS on ports 10261 (classifier) and 10262 (rebalancer), for a
                   token allowed by ClusterRole likewise-metrics-reader (README "Metrics")
  remove one:      kubectl delete -k manifests/<component>/base (manifests/common last)
MSG
