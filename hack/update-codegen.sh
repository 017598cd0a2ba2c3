#!/usr/bin/env bash
# Regenerates deepcopy, conversion and defaulting code for the plugin args with the
# k8s.io/code-generator tools pinned in go.mod (go tool ...).
set -euo pipefail
cd "$(dirname "$0")/.."

module=github.com/likewise-dev/likewise
header=hack/boilerplate.go.txt

go tool deepcopy-gen --go-header-file "$header" --output-file zz_generated.deepcopy.go \
  "$module/pkg/apis/config" "$module/pkg/apis/config/v1"
go tool defaulter-gen --go-header-file "$header" --output-file zz_generated.defaults.go \
  "$module/pkg/apis/config/v1"
go tool conversion-gen --go-header-file "$header" --output-file zz_generated.conversion.go \
  "$module/pkg/apis/config/v1"
