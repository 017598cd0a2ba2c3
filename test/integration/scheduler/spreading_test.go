package scheduler

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// spreadingNodes are the nodes of TestWorkloadSpreading: nodes[0] is of type oltp (by a
// resident, or by its pool label) and large enough for every replica; nodes[1] and nodes[2]
// are free; nodes[3] is olap (a resident). With weight 5 the oltp node leads the free ones by
// 250 points, more than kube-scheduler's spreading scores can pull back, so without the
// spreading rule every replica lands on nodes[0].
func spreadingNodes(t *testing.T, pool bool) (context.Context, []string, string, string) {
	t.Helper()
	big := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")}
	first := localcluster.NodeSpec{Capacity: big}
	if pool {
		first.Labels = map[string]string{apis.LabelWorkloadType: apis.WorkloadOLTP}
	}
	ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{first, {}, {}, {}}, "8", "32Gi")
	if !pool {
		prebind(ctx, t, ns, caseName, "oltp-resident", nodes[0], apis.WorkloadOLTP, "1", "2Gi")
	}
	prebind(ctx, t, ns, caseName, "olap-resident", nodes[3], apis.WorkloadOLAP, "1", "2Gi")
	return ctx, nodes, ns, caseName
}

// TestWorkloadSpreading: a workload's own spreading wins among the nodes that fit; type decides
// between equals. Three replicas of an OLTP database, none with required anti-affinity, go to
// three distinct nodes: the oltp node and the two free ones, never the olap node while free
// nodes remain. Once as a StatefulSet (kube-scheduler spreads its pods by default), once as
// CloudNativePG creates instances (one at a time, bare of any StatefulSet, each with a preferred
// podAntiAffinity on kubernetes.io/hostname selecting its cluster's instances).
func TestWorkloadSpreading(t *testing.T) {
	for _, pool := range []bool{false, true} {
		oltpNode := "typed by a resident"
		if pool {
			oltpNode = "a labelled pool"
		}
		t.Run("StatefulSet/oltp node "+oltpNode, func(t *testing.T) {
			ctx, nodes, ns, caseName := spreadingNodes(t, pool)
			template := scenario.Pod{Name: "db", Type: apis.WorkloadOLTP, Labels: map[string]string{"app": "db"}, CPU: "1", Memory: "2Gi"}.Build(ns, profileLikewise, caseName)
			zero := int64(0)
			template.Spec.TerminationGracePeriodSeconds = &zero
			_, err := client().AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
				ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
				Spec: appsv1.StatefulSetSpec{
					Replicas:            new(int32(3)),
					Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
					Template:            corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: template.Labels}, Spec: template.Spec},
					PodManagementPolicy: appsv1.ParallelPodManagement,
				},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, 5-boolInt(pool), placeTimeout)
			if err != nil {
				t.Fatal(err)
			}
			checkSpread(t, nodes, placement, []string{"db-0", "db-1", "db-2"})
		})

		t.Run("CloudNativePG/oltp node "+oltpNode, func(t *testing.T) {
			ctx, nodes, ns, caseName := spreadingNodes(t, pool)
			var names []string
			for i := 1; i <= 3; i++ {
				p := cnpgInstance(ns, caseName, "pg", i)
				if _, err := client().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				names = append(names, p.Name)
				// CloudNativePG creates the next instance once the previous one runs.
				if _, err := scenario.WaitPlaced(ctx, client(), ns, caseName, 2+i-boolInt(pool), placeTimeout); err != nil {
					t.Fatal(err)
				}
			}
			placement, err := scenario.Get(ctx, client(), ns, caseName)
			if err != nil {
				t.Fatal(err)
			}
			checkSpread(t, nodes, placement, names)
		})
	}
}

// checkSpread checks that the replicas went one each to the oltp node and the two free nodes.
func checkSpread(t *testing.T, nodes []string, placement scenario.Placement, replicas []string) {
	t.Helper()
	got := map[string]int{}
	for _, r := range replicas {
		got[placement[r]]++
	}
	want := map[string]int{nodes[0]: 1, nodes[1]: 1, nodes[2]: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replicas per node (-want,+got):\n%s\noltp node %s, free nodes %s and %s, olap node %s; placement %v",
			diff, nodes[0], nodes[1], nodes[2], nodes[3], placement)
	}
}

// cnpgInstance is the i-th instance pod of CloudNativePG cluster name, with the labels and the
// default (preferred) pod anti-affinity that CloudNativePG gives its instances.
func cnpgInstance(ns, caseName, cluster string, i int) *corev1.Pod {
	p := scenario.Pod{
		Name: fmt.Sprintf("%s-%d", cluster, i),
		Type: apis.WorkloadOLTP,
		Labels: map[string]string{
			apis.LabelCNPGCluster: cluster,
			cnpgPodRole:           cnpgRoleInstance,
		},
		CPU: "1", Memory: "2Gi",
	}.Build(ns, profileLikewise, caseName)
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey: corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: apis.LabelCNPGCluster, Operator: metav1.LabelSelectorOpIn, Values: []string{cluster}},
					{Key: cnpgPodRole, Operator: metav1.LabelSelectorOpIn, Values: []string{cnpgRoleInstance}},
				}},
			},
		}},
	}}
	return p
}

// CloudNativePG's pod role label and the value on instance pods; the scheduler does not read
// them (only the test's selector does), so they are not among pkg/apis' keys.
const (
	cnpgPodRole      = "cnpg.io/podRole"
	cnpgRoleInstance = "instance"
)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
