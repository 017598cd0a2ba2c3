#!/usr/bin/env bash
# Scheduling throughput with Kubernetes' own benchmark (test/integration/scheduler_perf), through
# test/perf: likewise's shipped profiles beside kube-scheduler's default profile in the same run,
# and the in-tree approximation of each plugin.
#
#   hack/bench-scheduler.sh                  full mode: 500, 1000 and 5000 nodes, 10 000 pods each
#   BENCH_SHORT=1 hack/bench-scheduler.sh    short mode: 500 nodes, 1000 measured pods
#   BENCH_WORKLOADS="Plain Typed"            only these workloads (default: all five)
#   BENCH_SIZES="5000Nodes_10000Pods"        only these sizes (full mode's default: the three;
#                                            5000Nodes_2000Pods is a shorter one to profile)
#   BENCH_SETTINGS="likewise-100"            only these settings (comma-separated; the files get
#                                            a _<settings> suffix), e.g. to profile one alone
#   BENCH_CPUPROFILE=1                       also write a CPU profile per run (<file>.cpu.pprof)
#   BENCH_TRACE=1                            also write an execution trace per run (<file>.trace;
#                                            a trace.Log of category likewise-setting marks each
#                                            namespace's first pod bound); large: use a small size.
#                                            test/perf/traceloop reads it: where the scheduling
#                                            loop's time went, per setting
#   BENCH_ROUNDS=2                           measure every setting this many times, each even
#                                            round in reverse order (ABBA: a run's drift weighs on
#                                            every setting alike); the files get a _<n>rounds
#                                            suffix and the summary averages the rounds
#
# Every run is one workload at one size: a fresh etcd and kube-apiserver, 16-CPU 64Gi nodes, an
# initial population created bound to its nodes (10 plain pods, 3 notebook servers, 5 database
# pods per node; never scheduled, not measured), then the workload's settings one after the other,
# each measuring its own pods and deleting them before the next:
#
#   likewise-100         likewise's profiles at percentageOfNodesToScore 100
#   default-100          kube-scheduler's default profile at 100
#   likewise-adaptive    likewise's profiles at the scheduler's adaptive default
#   default-adaptive     kube-scheduler's default profile at the adaptive default
#   intree-adaptive      the default profile, pods carrying the in-tree approximation (not Plain)
#   default-100-control  default-100 once more at the end (Plain only): the run's drift
#
# Output, in _output/bench/scheduler_perf/<mode>/ (mode: short or full; profile with BENCH_SETTINGS,
# BENCH_CPUPROFILE or BENCH_TRACE):
#
#   <Workload>_<Nodes>Nodes_<Pods>Pods.json   scheduler_perf's DataItems, one file per run
#   <Workload>_<Nodes>Nodes_<Pods>Pods.log    the go test output (benchmark lines at the end)
#   logs/                                     a failed run's component logs (ARTIFACTS)
#
# Each JSON file is {"version": "v1", "dataItems": [{"data": {...}, "unit": "...", "labels": {...}}]}.
# Every item has the labels Name (BenchmarkPerfScheduling/<Workload>/<N>Nodes_<P>Pods/<Setting>,
# with -r<k> after the setting in round k > 1), Metric, Workload (Plain, Typed, TypedPools,
# Notebook, Mixed), Nodes, MeasuredPods, Setting (as above), Round (1 to BENCH_ROUNDS), SettingPods
# (the pods the setting measured: fewer for intree at 5000 nodes), Scheduler (likewise, default,
# intree), PercentageOfNodesToScore (100, adaptive) and
# Shipped (true on the likewise setting at the manifest's percentageOfNodesToScore); a label that
# does not apply reads "not applicable". The metrics:
#
#   SchedulingThroughput                                 pods/s: Average, Perc50, Perc90, Perc95, Perc99
#   SchedulingDuration                                   s: Duration, first pod created to last scheduled
#   scheduler_scheduling_attempt_duration_seconds        ms, label result=scheduled: Perc99 etc.
#   scheduler_framework_extension_point_duration_seconds ms, label extension_point
#   scheduler_plugin_execution_duration_seconds          ms, labels plugin, extension_point
#   Mixing                                               pods: Mixing (after the setting's pods, as the
#                                                        rebalancer's View.Mixing), Initial, TypedPods, Share
#   UserSpread                                           users per node of the setting's hub: Spread
#                                                        (max - min), Min, Max, Stddev, Users,
#                                                        NodesWith<n>Users (how many nodes have n)
#
# A plot of throughput by cluster size reads SchedulingThroughput's Average by Nodes, one line per
# Scheduler+PercentageOfNodesToScore, for one Workload.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export PATH="$root/_output/bin:$PATH"
if ! command -v etcd >/dev/null; then
  echo "no etcd in _output/bin: run make cluster-binaries" >&2
  exit 1
fi
# As Kubernetes runs scheduler_perf: no cache mutation detector (it deep-copies every object).
export KUBE_CACHE_MUTATION_DETECTOR=false

if [ -n "${BENCH_SHORT:-}" ]; then
  mode=short
  sizes=${BENCH_SIZES:-500Nodes_1000Pods}
else
  mode=full
  sizes=${BENCH_SIZES:-500Nodes_10000Pods 1000Nodes_10000Pods 5000Nodes_10000Pods}
fi
workloads=${BENCH_WORKLOADS:-Plain Typed TypedPools Notebook Mixed}
# A run of some settings, or profiled, is not one of the mode's: it goes to profile/.
if [ -n "${BENCH_SETTINGS:-}" ] || [ -n "${BENCH_CPUPROFILE:-}" ] || [ -n "${BENCH_TRACE:-}" ]; then
  mode=profile
fi
out=$root/_output/bench/scheduler_perf/$mode
mkdir -p "$out/logs"
export ARTIFACTS=$out/logs

cd test/perf
go test -c -o "$out/perf.test" .
for size in $sizes; do
  for w in $workloads; do
    run=${w}_$size
    settings=()
    if [ -n "${BENCH_SETTINGS:-}" ]; then
      run=${run}_${BENCH_SETTINGS//,/_}
      settings=(-settings "$BENCH_SETTINGS")
    fi
    if [ "${BENCH_ROUNDS:-1}" != 1 ]; then
      run=${run}_${BENCH_ROUNDS}rounds
      settings+=(-rounds "$BENCH_ROUNDS")
    fi
    tmp=$(mktemp -d)
    profile=()
    if [ -n "${BENCH_CPUPROFILE:-}" ]; then
      profile=(-test.cpuprofile "$out/$run.cpu.pprof")
    fi
    if [ -n "${BENCH_TRACE:-}" ]; then
      profile+=(-test.trace "$out/$run.trace")
    fi
    echo "$(date -u +%H:%M:%S) $run" >&2
    status=0
    # The test binary runs in test/perf: the templates and the manifest are found from there.
    "$out/perf.test" -test.run '^$' -test.bench "^BenchmarkPerfScheduling\$/^$w\$/^$size\$" \
      -test.benchtime 1x -test.timeout 3h "${profile[@]}" "${settings[@]}" \
      -data-items-dir "$tmp" >"$out/$run.log" 2>&1 || status=$?
    json=$(ls "$tmp"/*.json 2>/dev/null | head -n1 || true)
    if [ -n "$json" ]; then
      mv "$json" "$out/$run.json"
    fi
    rm -rf "$tmp"
    if [ "$status" -ne 0 ] || [ -z "$json" ]; then
      echo "$run failed (status $status): see $out/$run.log" >&2
      exit 1
    fi
  done
done
echo "data items in $out" >&2
