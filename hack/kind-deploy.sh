#!/usr/bin/env bash
# Deploys likewise-scheduler as a second scheduler into an existing kind cluster: pods opt in
# with spec.schedulerName: likewise-scheduler. Needs docker, kind and kubectl.
# Usage: hack/kind-deploy.sh [cluster-name]   (default: likewise)
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-likewise}
image=likewise-scheduler:dev
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "hack/kind-deploy.sh needs $tool on PATH" >&2; exit 1; }
done

docker build -f hack/Dockerfile --target scheduler -t "$image" .
kind load docker-image "$image" --name "$name"
kubectl --context "kind-${name}" apply -k manifests/scheduler/base
kubectl --context "kind-${name}" -n likewise-system rollout status deployment/likewise-scheduler --timeout=180s
echo "likewise-scheduler runs in kind-${name}; give pods spec.schedulerName: likewise-scheduler."
