package config

import (
	"k8s.io/apimachinery/pkg/runtime"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
)

// SchemeGroupVersion is kube-scheduler's internal config version: plugin args live in the same
// group as KubeSchedulerConfiguration.
var SchemeGroupVersion = schedconfig.SchemeGroupVersion

var (
	// localSchemeBuilder extends kube-scheduler's internal config SchemeBuilder, so every scheme built
	// from it (the scheduler's own, and its plugin-args conversion scheme) knows our types.
	localSchemeBuilder = &schedconfig.SchemeBuilder
	// AddToScheme registers the internal args types (and kube-scheduler's) into a scheme.
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
}
