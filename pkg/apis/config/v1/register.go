package v1

import (
	"k8s.io/apimachinery/pkg/runtime"
	schedv1 "k8s.io/kube-scheduler/config/v1"
)

// SchemeGroupVersion is kubescheduler.config.k8s.io/v1, the version users write.
var SchemeGroupVersion = schedv1.SchemeGroupVersion

var (
	// localSchemeBuilder extends kube-scheduler's v1 SchemeBuilder; the generated conversion code
	// registers itself here too.
	localSchemeBuilder = &schedv1.SchemeBuilder
	// AddToScheme registers the v1 args types, their defaults and conversions into a scheme.
	AddToScheme = localSchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&WorkloadTypeAffinityArgs{},
		&NotebookSpreadArgs{},
	)
	return nil
}

func init() {
	localSchemeBuilder.Register(addKnownTypes)
	localSchemeBuilder.Register(RegisterDefaults)
}
