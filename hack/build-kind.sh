#!/usr/bin/env bash
# Builds kind at <version> as <dir>/kind, from the Go module proxy, outside likewise's module
# (kind is a tool, not a dependency: go.mod does not name it).
#
# usage: hack/build-kind.sh <version> <dir>
set -euo pipefail

die() { echo "build-kind: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 <version> <dir>"
version=$1
dir=$2
[[ ${version} == v* ]] || die "kind version '${version}' must look like v0.33.0"
GO=${GO:-go}

mkdir -p "${dir}"
dir=$(cd "${dir}" && pwd)

# `kind version` prints "kind v0.33.0 go1.x linux/amd64".
if [[ -x ${dir}/kind ]] && [[ $("${dir}/kind" version 2>/dev/null | awk '{print $2}') == "${version}" ]]; then
	echo "build-kind: ${dir}/kind is already kind ${version}"
	touch "${dir}/kind" # so make sees it newer than the Makefile
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT
cd "${tmp}" # outside any module: go install pkg@version needs no go.mod
export GOWORK=off

echo "build-kind: building sigs.k8s.io/kind@${version} into ${dir}/kind"
GOBIN=${tmp}/bin "${GO}" install -trimpath -ldflags '-s -w' "sigs.k8s.io/kind@${version}" ||
	die "go install sigs.k8s.io/kind@${version} failed (see the go output above)"
got=$("${tmp}/bin/kind" version | awk '{print $2}')
[[ ${got} == "${version}" ]] || die "built kind reports version '${got}', want ${version}"
mv -f "${tmp}/bin/kind" "${dir}/kind"
echo "build-kind: ${dir}/kind is kind ${version}"
