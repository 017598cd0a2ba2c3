#!/usr/bin/env bash
# Creates a kind cluster whose kube-scheduler IS likewise-scheduler: kubeadm's static pod is
# replaced by manifests/scheduler/replace/kube-scheduler.yaml with the config next to it.
# Needs docker, kind and kubectl. Usage: hack/kind-up.sh [cluster-name]   (default: likewise)
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-likewise}
image=likewise-scheduler:dev
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "hack/kind-up.sh needs $tool on PATH" >&2; exit 1; }
done

docker build -f hack/Dockerfile --target scheduler -t "$image" .

config=$(mktemp)
trap 'rm -f "$config"' EXIT
cat >"$config" <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraMounts:
  - hostPath: $(pwd)/manifests/scheduler/replace/kube-scheduler-config.yaml
    containerPath: /etc/likewise/kube-scheduler-config.yaml
    readOnly: true
- role: worker
- role: worker
KIND

kind create cluster --name "$name" --config "$config"
kind load docker-image "$image" --name "$name"
# The kubelet notices the new static pod manifest and restarts the scheduler as ours.
docker cp manifests/scheduler/replace/kube-scheduler.yaml "${name}-control-plane:/etc/kubernetes/manifests/kube-scheduler.yaml"

echo "waiting for likewise-scheduler to replace kube-scheduler..."
kubectl --context "kind-${name}" -n kube-system wait --for=condition=Ready --timeout=180s \
  "pod/kube-scheduler-${name}-control-plane"
kubectl --context "kind-${name}" -n kube-system get pod "kube-scheduler-${name}-control-plane" \
  -o jsonpath='{.spec.containers[0].image}{"\n"}' | grep -q "$image" \
  || { echo "the kube-scheduler pod does not run $image" >&2; exit 1; }
echo "kind cluster ${name} runs likewise-scheduler as its scheduler (context kind-${name})."
