#!/usr/bin/env bash
# Deploys likewise into an existing kind cluster: likewise-scheduler as a second scheduler (pods
# opt in with spec.schedulerName: likewise-scheduler or notebook-scheduler) and the classifier.
# Needs docker, kind and kubectl.
# Usage: hack/kind-deploy.sh [cluster-name]   (default: likewise)
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-likewise}
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "hack/kind-deploy.sh needs $tool on PATH" >&2; exit 1; }
done

docker build -f hack/Dockerfile --target scheduler -t likewise-scheduler:dev .
docker build -f hack/Dockerfile --target likewise -t likewise:dev .
kind load docker-image likewise-scheduler:dev likewise:dev --name "$name"

ctx="kind-${name}"
kubectl --context "$ctx" apply -k manifests/scheduler/base
kubectl --context "$ctx" apply -k manifests/classifier/base
kubectl --context "$ctx" -n likewise-system rollout status deployment/likewise-scheduler --timeout=180s
kubectl --context "$ctx" -n likewise-system rollout status deployment/likewise-classifier --timeout=180s
cat <<MSG
likewise runs in ${ctx}:
  database pods:   spec.schedulerName: likewise-scheduler (label likewise.dev/classify=true to have
                   them classified; see README "Classifier" for the monitoring role and Secret)
  notebook pods:   spec.schedulerName: notebook-scheduler
  classifier:      /metrics over HTTPS on port 10261, for a token allowed by ClusterRole
                   likewise-metrics-reader (README "Metrics"); /healthz and /readyz for anyone
MSG
