package workloadtypeaffinity

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// preScoreState holds each candidate node's score for this pod, computed once per cycle.
type preScoreState struct {
	scores map[string]int64
}

// Clone shares the state: it is never written after PreScore.
func (s *preScoreState) Clone() fwk.StateData { return s }

// PreScore classifies every candidate node once, in parallel, and records the pod's score on each.
// It returns Skip for untyped pods, so Score is not called for them.
func (pl *WorkloadTypeAffinity) PreScore(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	t := pl.podType(ctx, pod, true)
	if t == workloadtype.None {
		return fwk.NewStatus(fwk.Skip)
	}
	scores := make([]int64, len(nodes))
	pl.handle.Parallelizer().Until(ctx, len(nodes), func(i int) {
		scores[i] = pl.scores[workloadtype.RelationOf(t, pl.nodeType(nodes[i]))]
	}, Name)
	s := &preScoreState{scores: make(map[string]int64, len(nodes))}
	for i, n := range nodes {
		s.scores[n.Node().Name] = scores[i]
	}
	state.Write(preScoreStateKey, s)
	return nil
}

// Score returns the score PreScore computed for the node: O(1), no allocation.
func (pl *WorkloadTypeAffinity) Score(_ context.Context, state fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	c, err := state.Read(preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preScoreStateKey, err))
	}
	s, ok := c.(*preScoreState)
	if !ok {
		return 0, fwk.AsStatus(fmt.Errorf("%q in cycle state has type %T", preScoreStateKey, c))
	}
	score, ok := s.scores[nodeInfo.Node().Name]
	if !ok {
		return 0, fwk.AsStatus(fmt.Errorf("node %q was not among the nodes given to PreScore", nodeInfo.Node().Name))
	}
	return score, nil
}

// ScoreExtensions returns nil: scores are absolute (each in [0, MaxNodeScore]) and need no
// normalizing, which also keeps them comparable from one cycle to the next.
func (pl *WorkloadTypeAffinity) ScoreExtensions() fwk.ScoreExtensions { return nil }
