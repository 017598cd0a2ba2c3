package workloadtypeaffinity

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/apis/config"
)

func TestQueueingHints(t *testing.T) {
	pending := dbPod("pending", "oltp", "")
	relabelled := func(p *v1.Pod, typ string) *v1.Pod {
		p = p.DeepCopy()
		if typ == "" {
			delete(p.Labels, apis.LabelWorkloadType)
		} else {
			p.Labels[apis.LabelWorkloadType] = typ
		}
		return p
	}
	terminating := func(p *v1.Pod) *v1.Pod {
		now := metav1.Now()
		p.DeletionTimestamp = &now
		return p
	}
	tainted := st.MakeNode().Name("n").Label(apis.LabelWorkloadType, "olap").Taints([]v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}}).Obj()

	type hintFn func(*WorkloadTypeAffinity) fwk.QueueingHintFn
	nodeHint := func(pl *WorkloadTypeAffinity) fwk.QueueingHintFn { return pl.isSchedulableAfterNodeChange }
	deleteHint := func(pl *WorkloadTypeAffinity) fwk.QueueingHintFn { return pl.isSchedulableAfterPodDelete }
	labelHint := func(pl *WorkloadTypeAffinity) fwk.QueueingHintFn { return pl.isSchedulableAfterPodLabelChange }
	addHint := func(pl *WorkloadTypeAffinity) fwk.QueueingHintFn { return pl.isSchedulableAfterPodAdd }

	tests := []struct {
		name     string
		hint     hintFn
		old, new interface{}
		want     fwk.QueueingHint
	}{
		{name: "new unlabelled node", hint: nodeHint, new: node("n", ""), want: fwk.Queue},
		{name: "new oltp pool node", hint: nodeHint, new: node("n", "oltp"), want: fwk.Queue},
		{name: "new olap pool node", hint: nodeHint, new: node("n", "olap"), want: fwk.QueueSkip},
		{name: "pool label olap removed", hint: nodeHint, old: node("n", "olap"), new: node("n", ""), want: fwk.Queue},
		{name: "pool label olap to oltp", hint: nodeHint, old: node("n", "olap"), new: node("n", "oltp"), want: fwk.Queue},
		{name: "pool label oltp to olap", hint: nodeHint, old: node("n", "oltp"), new: node("n", "olap"), want: fwk.QueueSkip},
		{name: "taint change on olap pool", hint: nodeHint, old: tainted, new: node("n", "olap"), want: fwk.QueueSkip},
		// The node may have rejected the pod for its residents; a pool of the pod's type takes it.
		{name: "unlabelled node labelled oltp", hint: nodeHint, old: node("n", ""), new: node("n", "oltp"), want: fwk.Queue},
		{name: "invalid pool label to oltp", hint: nodeHint, old: node("n", "analytics"), new: node("n", "oltp"), want: fwk.Queue},
		{name: "unlabelled node labelled olap", hint: nodeHint, old: node("n", ""), new: node("n", "olap"), want: fwk.QueueSkip},
		{name: "pool label oltp removed", hint: nodeHint, old: node("n", "oltp"), new: node("n", ""), want: fwk.QueueSkip},
		{name: "other label change on oltp pool", hint: nodeHint, old: node("n", "oltp"), new: st.MakeNode().Name("n").Label(apis.LabelWorkloadType, "oltp").Label("zone", "a").Obj(), want: fwk.QueueSkip},
		{name: "other label change on unlabelled node", hint: nodeHint, old: node("n", ""), new: st.MakeNode().Name("n").Label("zone", "a").Obj(), want: fwk.QueueSkip},

		{name: "olap resident deleted", hint: deleteHint, old: dbPod("a", "olap", "n"), want: fwk.Queue},
		{name: "olap resident deleted gracefully", hint: deleteHint, old: terminating(dbPod("a", "olap", "n")), want: fwk.Queue},
		{name: "oltp resident deleted", hint: deleteHint, old: dbPod("t", "oltp", "n"), want: fwk.QueueSkip},
		{name: "untyped resident deleted", hint: deleteHint, old: dbPod("u", "", "n"), want: fwk.QueueSkip},
		{name: "unassigned olap pod deleted", hint: deleteHint, old: dbPod("a", "olap", ""), want: fwk.QueueSkip},

		{name: "pending pod's own type removed", hint: labelHint, old: pending, new: relabelled(pending, ""), want: fwk.Queue},
		{name: "pending pod's other labels changed", hint: labelHint, old: pending, new: st.MakePod().Namespace("db").Name("pending").UID("pending").Label(apis.LabelWorkloadType, "oltp").Label("x", "y").Obj(), want: fwk.QueueSkip},
		{name: "resident olap became oltp", hint: labelHint, old: dbPod("a", "olap", "n"), new: relabelled(dbPod("a", "olap", "n"), "oltp"), want: fwk.Queue},
		{name: "resident olap lost its type", hint: labelHint, old: dbPod("a", "olap", "n"), new: relabelled(dbPod("a", "olap", "n"), ""), want: fwk.Queue},
		{name: "resident oltp became olap", hint: labelHint, old: dbPod("t", "oltp", "n"), new: relabelled(dbPod("t", "oltp", "n"), "olap"), want: fwk.QueueSkip},
		{name: "unassigned pod relabelled", hint: labelHint, old: dbPod("a", "olap", ""), new: relabelled(dbPod("a", "olap", ""), "oltp"), want: fwk.QueueSkip},

		{name: "oltp pod landed", hint: addHint, new: dbPod("t", "oltp", "n"), want: fwk.Queue},
		{name: "olap pod landed", hint: addHint, new: dbPod("a", "olap", "n"), want: fwk.QueueSkip},
		{name: "oltp pod created unassigned", hint: addHint, new: dbPod("t", "oltp", ""), want: fwk.QueueSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, requiredArgs(), nil, nil)
			got, err := tt.hint(f.pl)(logger, pending, tt.old, tt.new)
			if err != nil {
				t.Fatalf("hint: %v", err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	tests := []struct {
		name string
		args config.WorkloadTypeAffinityArgs
		want []fwk.ClusterEvent
	}{
		{
			name: "required",
			args: requiredArgs(),
			want: []fwk.ClusterEvent{
				{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel},
				{Resource: fwk.Pod, ActionType: fwk.Delete},
				{Resource: fwk.Pod, ActionType: fwk.UpdatePodLabel},
				{Resource: fwk.Pod, ActionType: fwk.Add},
			},
		},
		{
			name: "preferred mode never rejects, so registers nothing",
			args: defaultArgs(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, tt.args, nil, nil)
			events, err := f.pl.EventsToRegister(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []fwk.ClusterEvent
			for _, e := range events {
				if e.QueueingHintFn == nil {
					t.Errorf("event %s has no QueueingHintFn", e.Event.Label())
				}
				got = append(got, e.Event)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want,+got):\n%s", diff)
			}
		})
	}
}
