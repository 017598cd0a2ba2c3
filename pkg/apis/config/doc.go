// Package config holds the internal (unversioned) types of likewise's plugin args. They are
// registered into kube-scheduler's own config scheme, so a KubeSchedulerConfiguration carries them
// like the args of in-tree plugins.
//
// +k8s:deepcopy-gen=package
package config
