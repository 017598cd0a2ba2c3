#!/usr/bin/env bash
# Creates a kind cluster whose kube-scheduler IS likewise-scheduler: kubeadm's static pod is
# replaced by manifests/scheduler/replace/kube-scheduler.yaml with the config next to it (every
# in-tree plugin kept), on the kind project's node image of the Kubernetes version likewise is
# built against (a scheduler newer than its API server is outside the version-skew policy). Then
# it deploys manifests/common, the classifier and the rebalancer beside the replaced scheduler
# (manifests/rebalancer/replace). `make kind-up` runs it with the pinned tools. For
# likewise-scheduler as a second scheduler in a cluster of your own, see hack/kind-deploy.sh
# (never both modes: the replace config also serves the second scheduler's names).
# With KIND_MODE=second, kube-scheduler stays and likewise-scheduler runs beside it as a second
# scheduler (manifests/scheduler/base, manifests/rebalancer/base): the other mode, which
# make kind-e2e KIND_MODE=second tests.
# Needs docker and kubectl; KIND (default kind on PATH), KIND_NODE_IMAGE and KIND_MODE (default
# replace) come from the Makefile.
# Usage: hack/kind-up.sh [cluster-name]   (default: likewise)
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-likewise}
kind=${KIND:-kind}
mode=${KIND_MODE:-replace}
case "$mode" in
  replace|second) ;;
  *) echo "KIND_MODE=$mode: must be replace or second" >&2; exit 2 ;;
esac
node_image=${KIND_NODE_IMAGE:?set KIND_NODE_IMAGE (make kind-up does: kindest/node at the Kubernetes version of go.mod)}
for tool in docker "$kind" kubectl; do
  command -v "$tool" >/dev/null || { echo "hack/kind-up.sh needs $tool" >&2; exit 1; }
done

# Both images, for this machine's platform: kind runs them on it.
make image

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
# Three workers, labelled for test/e2e (make kind-e2e), which uses the nodes of this label; the
# local-cluster e2e run (test/integration/e2e) makes three KWOK nodes of the same label.
- role: worker
  labels:
    e2e.likewise.dev/node: "true"
- role: worker
  labels:
    e2e.likewise.dev/node: "true"
- role: worker
  labels:
    e2e.likewise.dev/node: "true"
KIND

"$kind" create cluster --name "$name" --image "$node_image" --config "$config"
"$kind" load docker-image likewise-scheduler:dev likewise:dev --name "$name"
ctx="kind-${name}"
deployments="likewise-classifier likewise-rebalancer"
if [ "$mode" = replace ]; then
  # The kubelet notices the new static pod manifest and restarts the scheduler as ours.
  docker cp manifests/scheduler/replace/kube-scheduler.yaml "${name}-control-plane:/etc/kubernetes/manifests/kube-scheduler.yaml"
  echo "waiting for likewise-scheduler to replace kube-scheduler..."
  kubectl --context "$ctx" -n kube-system wait --for=condition=Ready --timeout=180s \
    "pod/kube-scheduler-${name}-control-plane"
  kubectl --context "$ctx" -n kube-system get pod "kube-scheduler-${name}-control-plane" \
    -o jsonpath='{.spec.containers[0].image}{"\n"}' | grep -q likewise-scheduler:dev \
    || { echo "the kube-scheduler pod does not run likewise-scheduler:dev" >&2; exit 1; }
  echo "kind cluster ${name} runs likewise-scheduler as its scheduler (context ${ctx})."
  kubectl --context "$ctx" apply -k manifests/common
  kubectl --context "$ctx" apply -k manifests/classifier/base
  kubectl --context "$ctx" apply -k manifests/rebalancer/replace
else
  kubectl --context "$ctx" apply -k manifests/common
  kubectl --context "$ctx" apply -k manifests/scheduler/base
  kubectl --context "$ctx" apply -k manifests/classifier/base
  kubectl --context "$ctx" apply -k manifests/rebalancer/base
  deployments="likewise-scheduler $deployments"
fi
for d in $deployments; do
  kubectl --context "$ctx" -n likewise-system rollout status "deployment/$d" --timeout=180s
done
cat <<MSG
likewise runs in ${ctx}:
  every pod:       placed by likewise-scheduler (kube-system's kube-scheduler pod; profile
                   default-scheduler, or likewise-scheduler and notebook-scheduler by name)
  database pods:   label likewise.dev/classify=true to have them classified; see README
                   "Classifier" for the monitoring role and Secret
  rebalancer:      dry-run: read its Events, then set --dry-run=false
  metrics:         /metrics over HTTPS on ports 10261 (classifier) and 10262 (rebalancer), for a
                   token allowed by ClusterRole likewise-metrics-reader (README "Metrics")
  end-to-end:      make kind-e2e; remove it all: make kind-down
MSG
