// Command likewise-scheduler is kube-scheduler with every in-tree plugin plus likewise's own.
// It runs in place of kube-scheduler, or beside it as a second scheduler.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/likewise-dev/likewise/pkg/plugins"
)

func main() {
	cmd := app.NewSchedulerCommand(plugins.RegistryOptions()...)
	cmd.Use = "likewise-scheduler"
	os.Exit(cli.Run(cmd))
}
