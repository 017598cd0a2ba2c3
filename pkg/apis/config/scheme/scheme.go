// Package scheme registers likewise's plugin args into kube-scheduler's config scheme, whose codecs
// decode strictly: an unknown or misspelt field in a config file is an error naming it.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	configv1 "github.com/likewise-dev/likewise/pkg/apis/config/v1"
)

var (
	// Scheme is kube-scheduler's config scheme, extended with our args.
	Scheme = schedscheme.Scheme
	// Codecs decodes KubeSchedulerConfiguration files, our args included, strictly.
	Codecs = serializer.NewCodecFactory(Scheme, serializer.EnableStrict)
)

func init() {
	AddToScheme(Scheme)
}

// AddToScheme registers the internal and v1 args types with their defaults and conversions.
func AddToScheme(s *runtime.Scheme) {
	utilruntime.Must(config.AddToScheme(s))
	utilruntime.Must(configv1.AddToScheme(s))
}
