package pluginutil

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

type other struct{}

func (o *other) Clone() fwk.StateData { return o }

func TestScore(t *testing.T) {
	nodeInfo := func(name string) fwk.NodeInfo {
		ni := framework.NewNodeInfo()
		ni.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
		return ni
	}
	state := framework.NewCycleState()
	state.Write("scores", NodeScores{"a": 40})
	state.Write("other", &other{})

	tests := []struct {
		name      string
		key       fwk.StateKey
		node      string
		want      int64
		wantError string
	}{
		{name: "stored", key: "scores", node: "a", want: 40},
		{name: "node not scored", key: "scores", node: "b", wantError: `node "b" was not among the nodes given to PreScore`},
		{name: "nothing stored", key: "missing", node: "a", wantError: `reading "missing" from cycle state: not found`},
		{name: "other type stored", key: "other", node: "a", wantError: `"other" in cycle state has type *pluginutil.other, want pluginutil.NodeScores`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, s := Score(state, tt.key, nodeInfo(tt.node))
			if got != tt.want {
				t.Errorf("score = %d, want %d", got, tt.want)
			}
			gotError := ""
			if !s.IsSuccess() {
				gotError = s.AsError().Error()
			}
			if gotError != tt.wantError {
				t.Errorf("error = %q, want %q", gotError, tt.wantError)
			}
		})
	}
}
