package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// TestPlacedByType: on nodes a (two oltp residents), b (two olap residents) and c (free), a
// typed StatefulSet's pod goes to the node of its type, and so does a typed Deployment's, when
// they opt in by name (likewise-scheduler, in either mode) and, in replace mode, when they leave
// spec.schedulerName out (the cluster's default scheduler is likewise-scheduler). kube-scheduler's
// default profile would put both on c, the emptiest node.
func TestPlacedByType(t *testing.T) {
	cases := []struct{ name, schedulerName string }{{"opted in by name", "likewise-scheduler"}}
	if mode == ModeReplace {
		cases = append(cases, struct{ name, schedulerName string }{"default scheduler", ""})
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			ns := newNamespace(ctx, t)
			a, b, _ := typedNodes(ctx, t, ns)
			oltp := template("orders", tt.schedulerName, map[string]string{apis.LabelWorkloadType: apis.WorkloadOLTP})
			if _, err := client.AppsV1().StatefulSets(ns).Create(ctx, statefulSet(ns, "orders", oltp, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			olap := template("reports", tt.schedulerName, map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP})
			if _, err := client.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "reports", olap), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			for app, want := range map[string]string{"orders": a, "reports": b} {
				pods := waitPods(ctx, t, ns, "app="+app, app+" running", func(pods []corev1.Pod) bool {
					return len(pods) == 1 && running(pods[0])
				})
				if got := pods[0].Spec.NodeName; got != want {
					t.Errorf("%s (%s) on %s, want %s, the node of its type", pods[0].Name, pods[0].Labels[apis.LabelWorkloadType], got, want)
				}
			}
		})
	}
}
