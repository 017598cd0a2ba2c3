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
	cmd.Long = `likewise-scheduler is kube-scheduler with every in-tree plugin plus likewise's own:
WorkloadTypeAffinity keeps OLTP and OLAP database pods on nodes of their own type, and
NotebookSpread spreads JupyterHub notebook servers by running users per node.
Run it in place of kube-scheduler, or beside it as a second scheduler that pods opt into
with spec.schedulerName. Configure it with a KubeSchedulerConfiguration (--config).`
	os.Exit(cli.Run(cmd))
}
