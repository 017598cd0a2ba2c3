#!/usr/bin/env bash
# Builds Helm at <version> as <dir>/helm, outside likewise's module (helm is never in go.mod), and
# records the version in <dir>/helm.version; copies the ServiceMonitor CRD of the Prometheus
# Operator module at <prometheus-operator-version> into <dir>/crds/ (the chart's tests apply it
# so that the API server validates the chart's ServiceMonitors). Returns at once when both are
# those versions already, so a warm `make test` never builds them again.
#
# usage: hack/build-helm.sh <version> <prometheus-operator-version> <dir>
set -euo pipefail

die() { echo "build-helm: $*" >&2; exit 1; }

[[ $# -eq 3 ]] || die "usage: $0 <version> <prometheus-operator-version> <dir>"
version=$1
promop=$2
dir=$3
[[ ${promop} == v* ]] || die "Prometheus Operator version '${promop}' must look like v0.85.0"
[[ ${version} =~ ^v([0-9]+)\.[0-9]+\.[0-9]+$ ]] || die "Helm version '${version}' must look like v4.3.1"
major=${BASH_REMATCH[1]}
module=helm.sh/helm/v${major}
GO=${GO:-go}

mkdir -p "${dir}"
dir=$(cd "${dir}" && pwd)

crd=crds/monitoring.coreos.com_servicemonitors.yaml
crds=${dir}/crds

if [[ -f ${crds}/VERSION && $(<"${crds}/VERSION") == "${promop}" && -f ${dir}/${crd} &&
	-x ${dir}/helm && -f ${dir}/helm.version && $(<"${dir}/helm.version") == "${version}" ]] &&
	"${dir}/helm" version --short 2>/dev/null | grep -Eq "^${version//./\\.}(\+|$)"; then
	echo "build-helm: ${dir}/helm is already Helm ${version}, ${dir}/${crd} Prometheus Operator ${promop}"
	touch "${dir}/helm" "${dir}/helm.version" "${crds}/VERSION" # so make sees them newer than the Makefile
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT
cd "${tmp}" # outside any module: go install pkg@version needs no go.mod
export GOWORK=off

# Helm's source says only "v4.3"; its release builds set the full version (and so does this), so
# that `helm version` names what was built.
echo "build-helm: building ${module}/cmd/helm@${version} into ${dir}/helm"
GOBIN=${tmp}/bin CGO_ENABLED=0 "${GO}" install -trimpath \
	-ldflags "-s -w -X ${module}/internal/version.version=${version} -X ${module}/internal/version.gitTreeState=clean" \
	"${module}/cmd/helm@${version}" ||
	die "go install ${module}/cmd/helm@${version} failed (see the go output above)"

moddir=$("${GO}" mod download -json "github.com/prometheus-operator/prometheus-operator@${promop}" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
src=${moddir}/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
[[ -f ${src} ]] || die "github.com/prometheus-operator/prometheus-operator@${promop} has no ${src#"${moddir}"/}"

mv -f "${tmp}/bin/helm" "${dir}/helm"
echo "${version}" >"${dir}/helm.version"
mkdir -p "${crds}"
install -m 0644 "${src}" "${dir}/${crd}"
echo "${promop}" >"${crds}/VERSION"
echo "build-helm: $("${dir}/helm" version --short); ${dir}/${crd} from Prometheus Operator ${promop}"
