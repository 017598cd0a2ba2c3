package rebalancer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
)

func TestSettle(t *testing.T) {
	const key = "ReplicaSet/db/rs-p"
	evictedAt := t0.Add(-5 * time.Minute)
	// n1 is an oltp node (a1, a2), n2 an olap node (b1, b2), n3 an oltp pool; p was evicted from
	// n1 at evictedAt.
	cluster := func(pods ...*v1.Pod) *harness {
		h := newHarness(t)
		h.nodes = []*v1.Node{makeNode("n1", 8), makeNode("n2", 8), makeNode("n3", 8, pool(oltp))}
		h.pods = append([]*v1.Pod{makePod("a1", "n1", oltp), makePod("a2", "n1", oltp), makePod("b1", "n2", olap), makePod("b2", "n2", olap)}, pods...)
		h.rs = append(h.rs, makeRS("rs-p", 1))
		return h
	}
	replacement := func(node string, opts ...podOpt) *v1.Pod {
		return makePod("p-2", node, olap, append([]podOpt{inRS("rs-p"), createdAt(evictedAt.Add(time.Second))}, opts...)...)
	}
	tests := []struct {
		name         string
		h            *harness
		now          time.Time
		wantEvents   []string
		wantInFlight bool
		wantBackoff  time.Duration
	}{
		{
			name:       "replacement ready on a node of its type",
			h:          cluster(replacement("n2")),
			now:        t0,
			wantEvents: []string{"Normal Moved replaces db/p (olap), moved from n1 to olap node n2"},
		},
		{
			// Not labelled yet (the classifier labels it from its record moments later): it
			// counts as its type, so n4 (one oltp, one olap besides it) is of its type.
			name: "replacement typed by its record, not labelled yet",
			h: func() *harness {
				h := cluster(replacement("n4", func(p *v1.Pod) { delete(p.Labels, apis.LabelWorkloadType) }),
					makePod("c1", "n4", oltp), makePod("c2", "n4", olap))
				h.nodes = append(h.nodes, makeNode("n4", 8))
				return h
			}(),
			now:        t0,
			wantEvents: []string{"Normal Moved replaces db/p (olap), moved from n1 to olap node n4"},
		},
		{
			name:        "replacement back on the node it left",
			h:           cluster(replacement("n1")),
			now:         t0,
			wantEvents:  []string{"Warning MoveDidNotStick replaces db/p (evicted from n1) but landed on oltp node n1; ReplicaSet/db/rs-p backs off 10m0s"},
			wantBackoff: 10 * time.Minute,
		},
		{
			// Its node's oltp pods left meanwhile: it is not misplaced there, yet the move failed.
			name: "replacement back on the node it left, now free",
			h: func() *harness {
				h := cluster(replacement("n1"))
				h.pods = h.pods[2:]
				return h
			}(),
			now:         t0,
			wantEvents:  []string{"Warning MoveDidNotStick replaces db/p (evicted from n1) but landed on olap node n1; ReplicaSet/db/rs-p backs off 10m0s"},
			wantBackoff: 10 * time.Minute,
		},
		{
			name:        "replacement misplaced elsewhere",
			h:           cluster(replacement("n3")),
			now:         t0,
			wantEvents:  []string{"Warning MoveDidNotStick replaces db/p (evicted from n1) but landed on oltp node n3; ReplicaSet/db/rs-p backs off 10m0s"},
			wantBackoff: 10 * time.Minute,
		},
		{
			name:         "evicted pod still terminating",
			h:            cluster(makePod("p", "n1", olap, func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }), replacement("n2")),
			now:          t0,
			wantInFlight: true,
		},
		{
			name:         "replacement not ready yet",
			h:            cluster(replacement("n2", notReady())),
			now:          t0,
			wantInFlight: true,
		},
		{
			name:         "an older pod is not the replacement",
			h:            cluster(makePod("p-0", "n2", olap, inRS("rs-p"))),
			now:          t0,
			wantInFlight: true,
		},
		{
			name:        "no ready replacement within the move timeout",
			h:           cluster(replacement("", notReady())),
			now:         evictedAt.Add(10*time.Minute + time.Second),
			wantEvents:  []string{"Warning MoveTimedOut no ready replacement of db/p within --move-timeout (10m0s); ReplicaSet/db/rs-p backs off 10m0s"},
			wantBackoff: 10 * time.Minute,
		},
		{
			name:        "no replacement at all within the move timeout",
			h:           cluster(),
			now:         evictedAt.Add(10*time.Minute + time.Second),
			wantEvents:  []string{"Warning MoveTimedOut no ready replacement of db/p within --move-timeout (10m0s); ReplicaSet/db/rs-p backs off 10m0s"},
			wantBackoff: 10 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			w := newWorld(t, tt.h, sharedSimulator(t))
			rec := events.NewFakeRecorder(10)
			w.r.recorder = rec
			w.pl.mem.recordEviction(key, &move{podUID: "uid-p", pod: "db/p", typ: olap, from: "n1", targets: []string{"n2"}, at: evictedAt})
			w.r.settle(ctx, NewView(tt.h.nodes, tt.h.pods), tt.now)
			var got []string
			for len(rec.Events) > 0 {
				got = append(got, <-rec.Events)
			}
			if diff := cmp.Diff(tt.wantEvents, got); diff != "" {
				t.Errorf("events (-want,+got):\n%s", diff)
			}
			m := w.pl.mem.workloads[key]
			if (m.inFlight != nil) != tt.wantInFlight {
				t.Errorf("move in flight: %v, want %v", m.inFlight != nil, tt.wantInFlight)
			}
			if m.backoff != tt.wantBackoff {
				t.Errorf("back-off %v, want %v", m.backoff, tt.wantBackoff)
			}
			if !tt.wantInFlight && !m.lastDone.Equal(tt.now) {
				t.Errorf("move done at %v, want %v", m.lastDone, tt.now)
			}
		})
	}
}
