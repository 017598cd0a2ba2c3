#!/usr/bin/env bash
# Fast checks that need no servers: formatting, go vet, generated code up to date, shell syntax.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0

unformatted=$(git ls-files -z -- '*.go' | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
  echo "gofmt would change (run gofmt -w):" >&2
  echo "$unformatted" >&2
  fail=1
fi

go vet ./...

# Generated code: regenerate into the tree and compare with what is committed.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
generated=$(git ls-files -- 'pkg/apis/**/zz_generated.*.go')
for f in $generated; do mkdir -p "$tmp/$(dirname "$f")"; cp "$f" "$tmp/$f"; done
hack/update-codegen.sh
for f in $generated; do
  if ! cmp -s "$f" "$tmp/$f"; then
    echo "$f is out of date: run make generate and commit the result" >&2
    cp "$tmp/$f" "$f"
    fail=1
  fi
done

for s in hack/*.sh .ci/run; do
  bash -n "$s" || fail=1
done

exit "$fail"
