#!/usr/bin/env bash
# Pins k8s.io/kubernetes at the given version and replaces every k8s.io staging module with the
# matching v0.x.y, as k8s.io/kubernetes' own go.mod replaces them with ./staging paths that do not
# exist outside its repository. Usage: hack/update-k8s.sh v1.36.3
set -euo pipefail

version=${1:?usage: $0 <k8s.io/kubernetes version, e.g. v1.36.3>}
case "$version" in
  v1.*.*) ;;
  *) echo "version must look like v1.MINOR.PATCH, got ${version}" >&2; exit 2 ;;
esac
staging="v0.${version#v1.}"

cd "$(dirname "$0")/.."

modfile=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -n "$modfile" ] || { echo "could not download k8s.io/kubernetes@${version}" >&2; exit 1; }

modules=$(awk '/=> \.\/staging\//{print $1}' "$modfile")
[ -n "$modules" ] || { echo "no staging replacements found in ${modfile}" >&2; exit 1; }

args=(-require="k8s.io/kubernetes@${version}")
for m in $modules; do
  # A staging module the proxy does not serve (e.g. a sample) cannot be required by anything we
  # build, so it needs no replacement.
  if go mod download "${m}@${staging}" >/dev/null 2>&1; then
    args+=(-replace="${m}=${m}@${staging}")
  else
    echo "skipping ${m}: ${staging} is not served by the module proxy" >&2
  fi
done
go mod edit "${args[@]}"
go mod tidy
echo "k8s.io/kubernetes ${version}, staging modules ${staging}"
