package perf

import (
	"context"
	"math"
	"runtime/trace"
	"sort"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// The placement quality a setting buys, from the pods' final nodes. scheduler_perf deletes
// nothing but what a setting's deletePods op deletes, so each setting's pods are judged with the
// initial population alone, as they were placed (every setting starts from the same cluster).

// initPrefix names the namespaces of the initial population.
const initPrefix = "init-"

// placement is what the quality needs of one bound pod.
type placement struct {
	namespace, node string
	typ             workloadtype.Type
	// user is the notebook server's user ("" for other pods); its hub is its namespace.
	user string
}

// observer records where each pod was first bound, from the scheduler's own pod informer (the
// one scheduler_perf's collectors read), so that it costs no API call and sees every setting's
// pods although the next setting deletes them.
type observer struct {
	mu     sync.Mutex
	pools  map[string]workloadtype.Type // node name -> the pool its label declares (None: none)
	placed map[types.UID]placement
	// namespaces seen bound, to mark in an execution trace where each setting's pods begin.
	namespaces map[string]bool
}

func newObserver(nodes []v1.Node) *observer {
	o := &observer{pools: make(map[string]workloadtype.Type, len(nodes)), placed: map[types.UID]placement{}, namespaces: map[string]bool{}}
	for i := range nodes {
		t, _ := workloadtype.OfNodeLabel(&nodes[i])
		o.pools[nodes[i].Name] = t
	}
	return o
}

func (o *observer) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    o.observe,
		UpdateFunc: func(_, obj any) { o.observe(obj) },
	}
}

func (o *observer) observe(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.placed[pod.UID]; seen {
		return
	}
	o.placed[pod.UID] = placementOf(pod)
	if !o.namespaces[pod.Namespace] {
		o.namespaces[pod.Namespace] = true
		// Under -test.trace (BENCH_TRACE): the setting's first pod bound.
		if trace.IsEnabled() {
			trace.Log(context.Background(), "likewise-setting", pod.Namespace)
		}
	}
}

func placementOf(pod *v1.Pod) placement {
	p := placement{namespace: pod.Namespace, node: pod.Spec.NodeName, typ: workloadtype.Resident(pod)}
	if pod.Labels[apis.LabelComponent] == apis.ComponentSingleUserServer {
		p.user = pod.Annotations[apis.AnnotationHubUsername]
		if p.user == "" {
			p.user = pod.Labels[apis.AnnotationHubUsername]
		}
	}
	return p
}

// mixing is the cluster's mixing as the rebalancer's View.Mixing defines it: over every node,
// workloadtype.Mixing of its pool label and its resident typed pods.
type mixing struct {
	// Mixing after the setting's pods, and of the initial population alone.
	Mixing, Initial int
	// TypedPods is the typed pods resident after the setting's pods (initial ones included).
	TypedPods int
}

// userSpread is how unevenly a hub's users are spread over the nodes: distinct users with a
// server on a node, over every node (a node with none counts as 0).
type userSpread struct {
	Min, Max, Users int
	// Stddev is the standard deviation of the users per node.
	Stddev float64
	// Nodes is how many nodes have each number of users (index: users).
	Nodes []int
}

// quality is the placement quality of one setting (a measured namespace).
type quality struct {
	namespace string
	// mixing is nil when the setting placed no typed pod, users when it placed no notebook server.
	mixing *mixing
	users  *userSpread
}

// qualities judges every measured namespace with the initial population, sorted by namespace.
func (o *observer) qualities() []quality {
	o.mu.Lock()
	defer o.mu.Unlock()
	initial := map[string]workloadtype.Counts{}
	byNamespace := map[string][]placement{}
	for _, p := range o.placed {
		if strings.HasPrefix(p.namespace, initPrefix) {
			c := initial[p.node]
			c.Add(p.typ)
			initial[p.node] = c
			continue
		}
		byNamespace[p.namespace] = append(byNamespace[p.namespace], p)
	}
	var out []quality
	for ns, pods := range byNamespace {
		q := quality{namespace: ns}
		counts := map[string]workloadtype.Counts{}
		typed := false
		users := map[string]map[string]bool{} // node -> users of this hub
		allUsers := map[string]bool{}
		for _, p := range pods {
			if p.typ != workloadtype.None {
				typed = true
				c := counts[p.node]
				c.Add(p.typ)
				counts[p.node] = c
			}
			if p.user != "" {
				if users[p.node] == nil {
					users[p.node] = map[string]bool{}
				}
				users[p.node][p.user] = true
				allUsers[p.user] = true
			}
		}
		if typed {
			m := &mixing{}
			for node, pool := range o.pools {
				c0 := initial[node]
				c := counts[node]
				c.OLTP += c0.OLTP
				c.OLAP += c0.OLAP
				m.Mixing += workloadtype.Mixing(pool, c)
				m.Initial += workloadtype.Mixing(pool, c0)
				m.TypedPods += c.OLTP + c.OLAP
			}
			q.mixing = m
		}
		if len(allUsers) > 0 {
			s := &userSpread{Min: math.MaxInt, Users: len(allUsers)}
			var sum, sumSq float64
			for node := range o.pools {
				n := len(users[node])
				for len(s.Nodes) <= n {
					s.Nodes = append(s.Nodes, 0)
				}
				s.Nodes[n]++
				s.Min = min(s.Min, n)
				s.Max = max(s.Max, n)
				sum += float64(n)
				sumSq += float64(n * n)
			}
			mean := sum / float64(len(o.pools))
			s.Stddev = math.Sqrt(max(0, sumSq/float64(len(o.pools))-mean*mean))
			q.users = s
		}
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].namespace < out[j].namespace })
	return out
}
