#!/usr/bin/env bash
# Builds KWOK at <version> as <dir>/kwok and puts the Stage configs that version ships into
# <dir>/kwok-stages/ (read from the module itself, so they always match the binary).
#
# usage: hack/build-kwok.sh <version> <dir>
#
# Stages installed (paths inside the sigs.k8s.io/kwok module):
#   kustomize/stage/node/fast                  node-initialize: a new node becomes Ready
#   kustomize/stage/node/heartbeat-with-lease  refreshes node conditions now and then; KWOK's
#                                              --node-lease-duration-seconds keeps the Lease fresh
#   kustomize/stage/pod/fast                   pod-ready, pod-complete (Job pods), pod-delete
set -euo pipefail

die() { echo "build-kwok: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 <version> <dir>"
version=$1
dir=$2
[[ ${version} == v* ]] || die "KWOK version '${version}' must look like v0.8.0"
GO=${GO:-go}

stage_dirs=(kustomize/stage/node/fast kustomize/stage/node/heartbeat-with-lease kustomize/stage/pod/fast)

mkdir -p "${dir}"
dir=$(cd "${dir}" && pwd)
stages=${dir}/kwok-stages

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT
cd "${tmp}" # outside any module: go install pkg@version and go mod download need no go.mod
export GOWORK=off

if [[ -x ${dir}/kwok && -f ${stages}/VERSION && $(<"${stages}/VERSION") == "${version}" ]] &&
	"${dir}/kwok" --version 2>/dev/null | grep -q "${version}"; then
	echo "build-kwok: ${dir}/kwok and ${stages} are already KWOK ${version}"
	touch "${dir}/kwok" "${stages}/VERSION" # so make sees them newer than the Makefile
	exit 0
fi

echo "build-kwok: building sigs.k8s.io/kwok/cmd/kwok@${version} into ${dir}/kwok"
GOBIN=${tmp}/bin "${GO}" install -trimpath -ldflags '-s -w' "sigs.k8s.io/kwok/cmd/kwok@${version}" ||
	die "go install sigs.k8s.io/kwok/cmd/kwok@${version} failed (see the go output above)"

moddir=$("${GO}" mod download -json "sigs.k8s.io/kwok@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n ${moddir} && -d ${moddir} ]] || die "go mod download sigs.k8s.io/kwok@${version} gave no module directory"

rm -rf "${stages}.new"
mkdir -p "${stages}.new"
for d in "${stage_dirs[@]}"; do
	[[ -d ${moddir}/${d} ]] || die "sigs.k8s.io/kwok@${version} has no ${d}; update stage_dirs in $0"
	# The Stage objects are the kustomization's resources; testdata and docs stay behind.
	resources=$(sed -n 's/^- \(.*\.yaml\)$/\1/p' "${moddir}/${d}/kustomization.yaml")
	[[ -n ${resources} ]] || die "${moddir}/${d}/kustomization.yaml lists no resources"
	for r in ${resources}; do
		install -m 0644 "${moddir}/${d}/${r}" "${stages}.new/${r}"
	done
done
echo "${version}" >"${stages}.new/VERSION"

mv -f "${tmp}/bin/kwok" "${dir}/kwok"
rm -rf "${stages}"
mv "${stages}.new" "${stages}"
echo "build-kwok: ${dir}/kwok is KWOK ${version}; stages in ${stages}: $(cd "${stages}" && echo *.yaml)"
