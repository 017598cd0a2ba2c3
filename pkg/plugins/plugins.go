// Package plugins lists likewise's scheduler plugins for kube-scheduler's registry, and registers
// their args with kube-scheduler's config scheme. The scheduler binary and the tests that run the
// real scheduler both take the list from here.
package plugins

import (
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	// Registers the plugin args types, defaults and conversions with kube-scheduler's scheme.
	_ "github.com/likewise-dev/likewise/pkg/apis/config/scheme"
	"github.com/likewise-dev/likewise/pkg/plugins/notebookspread"
	"github.com/likewise-dev/likewise/pkg/plugins/workloadtypeaffinity"
)

// RegistryOptions returns one app.Option per likewise plugin, to pass to
// app.NewSchedulerCommand or app.Setup next to every in-tree plugin.
func RegistryOptions() []app.Option {
	return []app.Option{
		app.WithPlugin(workloadtypeaffinity.Name, workloadtypeaffinity.New),
		app.WithPlugin(notebookspread.Name, notebookspread.New),
	}
}
