#!/usr/bin/env bash
# Builds the etcd server at the version k8s.io/kubernetes requires, as <dir>/etcd.
#
# usage: hack/build-etcd.sh <version> <dir>      (the Makefile passes the go.mod version)
#
# `go install go.etcd.io/etcd/server/v3@<version>` cannot be used: etcd's server module carries
# replace directives, which `go install pkg@version` refuses. So the server is built from a
# throwaway module that requires it; the server module's own requirements pick the dependency
# versions, as they do for an etcd release. Nothing of that module is kept.
set -euo pipefail

die() { echo "build-etcd: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 <version> <dir>"
version=$1
dir=$2
[[ -n ${version} ]] || die "empty etcd version: is go.etcd.io/etcd/server/v3 in go.mod's module graph (go list -m go.etcd.io/etcd/server/v3)?"
[[ ${version} == v3.* ]] || die "etcd version ${version} is not a v3 module version (want e.g. v3.6.8)"
GO=${GO:-go}

mkdir -p "${dir}"
dir=$(cd "${dir}" && pwd)
want=${version#v}

if [[ -x ${dir}/etcd ]] && "${dir}/etcd" --version 2>/dev/null | grep -qx "etcd Version: ${want}"; then
	echo "build-etcd: ${dir}/etcd is already etcd ${want}"
	touch "${dir}/etcd" # so make sees it newer than go.mod
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT
export GOWORK=off GOFLAGS=

echo "build-etcd: building etcd ${version} into ${dir}/etcd"
# Commands joined with && because `set -e` does not apply inside a `( ... ) || die` list.
(
	cd "${tmp}" &&
		"${GO}" mod init likewise.invalid/etcd-build >/dev/null 2>&1 &&
		"${GO}" get "go.etcd.io/etcd/server/v3@${version}" &&
		"${GO}" build -mod=readonly -trimpath -ldflags '-s -w' -o "${tmp}/etcd" go.etcd.io/etcd/server/v3
) || die "building go.etcd.io/etcd/server/v3@${version} failed (see the go output above)"

got=$("${tmp}/etcd" --version | sed -n 's/^etcd Version: //p')
[[ ${got} == "${want}" ]] || die "built etcd reports version '${got}', want ${want}"
mv -f "${tmp}/etcd" "${dir}/etcd"
echo "build-etcd: ${dir}/etcd is etcd ${want}"
