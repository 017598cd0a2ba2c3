// Package v1 holds the versioned (kubescheduler.config.k8s.io/v1) args of likewise's plugins: what
// users write in a KubeSchedulerConfiguration.
//
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/likewise-dev/likewise/pkg/apis/config
// +k8s:defaulter-gen=TypeMeta
// +groupName=kubescheduler.config.k8s.io
package v1
