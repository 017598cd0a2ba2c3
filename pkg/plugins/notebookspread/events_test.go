package notebookspread

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/apis/config"
)

func cappedArgs() config.NotebookSpreadArgs {
	return withArgs(func(a *config.NotebookSpreadArgs) { a.MaxUsersPerNode = 3 })
}

func TestQueueingHints(t *testing.T) {
	pending := server("hub-a", "zoe", "")
	relabelled := func(p *v1.Pod, key, value string) *v1.Pod {
		p = p.DeepCopy()
		if value == "" {
			delete(p.Labels, key)
		} else {
			p.Labels[key] = value
		}
		return p
	}
	userLabelOnly := func(p *v1.Pod) *v1.Pod {
		p = p.DeepCopy()
		delete(p.Annotations, apis.AnnotationHubUsername)
		return p
	}

	type hintFn func(*NotebookSpread) fwk.QueueingHintFn
	deleteHint := func(pl *NotebookSpread) fwk.QueueingHintFn { return pl.isSchedulableAfterPodDelete }
	labelHint := func(pl *NotebookSpread) fwk.QueueingHintFn { return pl.isSchedulableAfterPodLabelChange }
	addHint := func(pl *NotebookSpread) fwk.QueueingHintFn { return pl.isSchedulableAfterPodAdd }
	nodeHint := func(pl *NotebookSpread) fwk.QueueingHintFn { return pl.isSchedulableAfterNodeAdd }

	tests := []struct {
		name     string
		hint     hintFn
		pod      *v1.Pod // the pending pod; default pending
		old, new interface{}
		want     fwk.QueueingHint
	}{
		{name: "another user's server deleted", hint: deleteHint, old: server("hub-a", "bob", "n"), want: fwk.Queue},
		// The bug to avoid: a deleted pod is seen with its deletionTimestamp.
		{name: "another user's server deleted gracefully", hint: deleteHint, old: terminating(server("hub-a", "bob", "n")), want: fwk.Queue},
		{name: "another user's named server deleted", hint: deleteHint, old: named("hub-a", "bob", "gpu", "n"), want: fwk.Queue},
		{name: "the user's own server deleted", hint: deleteHint, old: named("hub-a", "zoe", "gpu", "n"), want: fwk.QueueSkip},
		{name: "another hub's server deleted", hint: deleteHint, old: server("hub-b", "bob", "n"), want: fwk.QueueSkip},
		{name: "a finished server deleted", hint: deleteHint, old: finished(server("hub-a", "bob", "n"), v1.PodSucceeded), want: fwk.QueueSkip},
		{name: "a pending server deleted", hint: deleteHint, old: server("hub-a", "bob", ""), want: fwk.QueueSkip},
		{name: "a placeholder deleted", hint: deleteHint, old: podBuilder{ns: "hub-a", user: "bob", node: "n", component: apis.ComponentUserPlaceholder}.obj(), want: fwk.QueueSkip},
		{name: "another pod deleted", hint: deleteHint, old: st.MakePod().Namespace("hub-a").Name("web").Node("n").Obj(), want: fwk.QueueSkip},
		{name: "the pending pod is no server any more", hint: deleteHint, pod: st.MakePod().Namespace("hub-a").Name("x").Obj(), old: server("hub-b", "bob", "n"), want: fwk.Queue},

		{name: "pending pod's user label changed", hint: labelHint, old: userLabelOnly(pending), new: relabelled(userLabelOnly(pending), apis.AnnotationHubUsername, "zed"), pod: userLabelOnly(pending), want: fwk.Queue},
		{name: "pending pod no longer selected", hint: labelHint, old: pending, new: relabelled(pending, apis.LabelComponent, ""), want: fwk.Queue},
		{name: "pending pod's unrelated label changed", hint: labelHint, old: pending, new: relabelled(pending, "x", "y"), want: fwk.QueueSkip},
		{name: "pending pod's label changed, annotation wins", hint: labelHint, old: pending, new: relabelled(pending, apis.AnnotationHubUsername, "zed"), want: fwk.QueueSkip},
		{name: "resident no longer selected", hint: labelHint, old: server("hub-a", "bob", "n"), new: relabelled(server("hub-a", "bob", "n"), apis.LabelComponent, "other"), want: fwk.Queue},
		{name: "resident became a placeholder", hint: labelHint, old: server("hub-a", "bob", "n"), new: relabelled(server("hub-a", "bob", "n"), apis.LabelComponent, apis.ComponentUserPlaceholder), want: fwk.Queue},
		{name: "resident's user label became the pending user", hint: labelHint, old: userLabelOnly(server("hub-a", "bob", "n")), new: relabelled(userLabelOnly(server("hub-a", "bob", "n")), apis.AnnotationHubUsername, "zoe"), want: fwk.Queue},
		{name: "resident's unrelated label changed", hint: labelHint, old: server("hub-a", "bob", "n"), new: relabelled(server("hub-a", "bob", "n"), "x", "y"), want: fwk.QueueSkip},
		{name: "another hub's resident relabelled", hint: labelHint, old: server("hub-b", "bob", "n"), new: relabelled(server("hub-b", "bob", "n"), "x", "y"), want: fwk.QueueSkip},
		{name: "resident became selected", hint: labelHint, old: relabelled(server("hub-a", "bob", "n"), apis.LabelComponent, ""), new: server("hub-a", "bob", "n"), want: fwk.QueueSkip},
		{name: "unassigned pod relabelled", hint: labelHint, old: server("hub-a", "bob", ""), new: relabelled(server("hub-a", "bob", ""), apis.LabelComponent, ""), want: fwk.QueueSkip},

		{name: "the user's named server landed", hint: addHint, new: named("hub-a", "zoe", "gpu", "n"), want: fwk.Queue},
		{name: "another user's server landed", hint: addHint, new: server("hub-a", "bob", "n"), want: fwk.QueueSkip},
		{name: "the user's server created unassigned", hint: addHint, new: named("hub-a", "zoe", "gpu", ""), want: fwk.QueueSkip},
		{name: "a namesake in another hub landed", hint: addHint, new: server("hub-b", "zoe", "n"), want: fwk.QueueSkip},

		{name: "node added", hint: nodeHint, new: node("n"), want: fwk.Queue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, cappedArgs(), nil, nil)
			pod := tt.pod
			if pod == nil {
				pod = pending
			}
			got, err := tt.hint(f.pl)(logger, pod, tt.old, tt.new)
			if err != nil {
				t.Fatalf("hint: %v", err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueueingHintWrongType(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, cappedArgs(), nil, nil)
	got, err := f.pl.isSchedulableAfterPodDelete(logger, server("hub-a", "zoe", ""), node("n"), nil)
	if err == nil || got != fwk.Queue {
		t.Errorf("hint on a Node for a Pod event = %v, %v; want Queue and an error", got, err)
	}
}

func TestEventsToRegister(t *testing.T) {
	tests := []struct {
		name string
		args config.NotebookSpreadArgs
		want []fwk.ClusterEvent
	}{
		{
			name: "with a cap",
			args: cappedArgs(),
			want: []fwk.ClusterEvent{
				{Resource: fwk.Pod, ActionType: fwk.Delete},
				{Resource: fwk.Pod, ActionType: fwk.UpdatePodLabel},
				{Resource: fwk.Pod, ActionType: fwk.Add},
				{Resource: fwk.Node, ActionType: fwk.Add},
			},
		},
		{
			name: "without a cap nothing is rejected",
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
