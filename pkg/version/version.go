// Package version reports the build of likewise, stamped at link time by the Makefile.
package version

import (
	"strings"

	k8sversion "k8s.io/component-base/version"
)

// version is set with -ldflags "-X github.com/likewise-dev/likewise/pkg/version.version=...".
var version = "dev"

// Version is likewise's own version, e.g. "v0.1.0" or a git description.
func Version() string { return version }

// Kubernetes is the version of the Kubernetes libraries likewise was built with.
func Kubernetes() string {
	v, _, _ := strings.Cut(k8sversion.Get().GitVersion, "+")
	return v
}

// String is the one-line form the binaries print.
func String() string { return version + " (kubernetes " + Kubernetes() + ")" }
