package workloadtypeaffinity

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	listersv1 "k8s.io/client-go/listers/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// The spreading rule: a workload's own spreading wins among the nodes that suit its type; type
// decides between equals. A pod's siblings are the resident pods its own spreading is about (see
// spreading). Over the scored nodes that suit the pod (of its type, or free), least is the
// fewest siblings one of them holds; a node with more than least scores 0, the least this
// plugin gives, so the type's lead never pulls a replica onto a node that already runs more of
// its workload while a suitable node with fewer fits. Nodes with no more than least keep their
// type score. Mixed and other-type nodes set no least: spreading onto them is left to the
// in-tree plugins, against the type's preference, so when only they have fewer siblings the
// replica stays with its type. A pod with no siblings anywhere (the first replica, or a pod of
// no workload) is scored exactly by type.

// spreading is a pod's own spreading intent: which resident pods it wants to keep off its node.
// It is what the pod declares, its topology spread constraints and its pod anti-affinity terms
// (required and preferred); if it declares none, the pods of its controller, which
// kube-scheduler's system-default topology spreading spreads. A term's topology key is not read:
// pods one term selects are counted per node whatever the key, as a workload spread over zones is
// spread over nodes too. Balancing the zones themselves is left to PodTopologySpread.
type spreading struct {
	// namespace is the pod's own namespace.
	namespace string
	// terms are the pod's declared terms.
	terms []spreadTerm
	// owner is the UID of the pod's controller, used only when there are no terms.
	owner types.UID
	// controller is owner with the namespace, as nodeState.replicas counts them.
	controller string
	// counts are the per-node counts of the terms' siblings (termCounts), up to date for the
	// nodes to score; nil where the cache is not used.
	counts *pluginutil.NodeCache[int64]
}

// key names the terms' selection, so that two pods of one workload share their counts: each
// term's selector and namespaces, in order.
func (s *spreading) key() string {
	var b strings.Builder
	for _, t := range s.terms {
		b.WriteString(t.selector.String())
		b.WriteByte(0)
		if t.allNamespaces {
			b.WriteString("*")
		} else {
			b.WriteString(strings.Join(sets.List(t.namespaces), ","))
		}
		b.WriteByte(0)
	}
	return b.String()
}

// spreadTerm selects the resident pods of one declared term.
type spreadTerm struct {
	selector labels.Selector
	// allNamespaces is an empty namespaceSelector; otherwise the term selects pods in
	// namespaces.
	allNamespaces bool
	namespaces    sets.Set[string]
}

// none says whether the pod has no siblings to count: then every node has 0 and scoring is by
// type alone.
func (s *spreading) none() bool { return len(s.terms) == 0 && s.owner == "" }

// hasSpreading says, without parsing anything, whether newSpreading would find an intent: what
// SignPod needs to know.
func hasSpreading(pod *v1.Pod) bool {
	if len(pod.Spec.TopologySpreadConstraints) > 0 || metav1.GetControllerOfNoCopy(pod) != nil {
		return true
	}
	a := pod.Spec.Affinity
	return a != nil && a.PodAntiAffinity != nil &&
		(len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0)
}

// newSpreading reads the pod's spreading intent. nsLister resolves the namespaceSelector of an
// anti-affinity term; with none (no informers), such a term selects only the namespaces it names.
// An invalid selector is an error naming the term; the API server rejects such pods, so this is
// reached only by pods it never saw.
func newSpreading(pod *v1.Pod, nsLister listersv1.NamespaceLister) (spreading, error) {
	s := spreading{namespace: pod.Namespace}
	own := sets.New(pod.Namespace)
	for i, c := range pod.Spec.TopologySpreadConstraints {
		if c.LabelSelector == nil {
			continue // selects nothing, as PodTopologySpread reads it
		}
		sel, err := selectorWithKeys(c.LabelSelector, pod.Labels, c.MatchLabelKeys, nil)
		if err != nil {
			return spreading{}, fmt.Errorf("spec.topologySpreadConstraints[%d].labelSelector: %w", i, err)
		}
		s.terms = append(s.terms, spreadTerm{selector: sel, namespaces: own})
	}
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		path := "spec.affinity.podAntiAffinity."
		for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			t, ok, err := newAntiAffinityTerm(pod, &a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i], nsLister)
			if err != nil {
				return spreading{}, fmt.Errorf("%srequiredDuringSchedulingIgnoredDuringExecution[%d]: %w", path, i, err)
			}
			if ok {
				s.terms = append(s.terms, t)
			}
		}
		for i := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			t, ok, err := newAntiAffinityTerm(pod, &a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm, nsLister)
			if err != nil {
				return spreading{}, fmt.Errorf("%spreferredDuringSchedulingIgnoredDuringExecution[%d].podAffinityTerm: %w", path, i, err)
			}
			if ok {
				s.terms = append(s.terms, t)
			}
		}
	}
	if len(s.terms) == 0 {
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
			s.owner = ref.UID
			s.controller = controllerKey(pod.Namespace, ref.UID)
		}
	}
	return s, nil
}

// newAntiAffinityTerm reads one anti-affinity term; ok is false for a term that selects no pod
// (no labelSelector).
func newAntiAffinityTerm(pod *v1.Pod, term *v1.PodAffinityTerm, nsLister listersv1.NamespaceLister) (spreadTerm, bool, error) {
	if term.LabelSelector == nil {
		return spreadTerm{}, false, nil
	}
	sel, err := selectorWithKeys(term.LabelSelector, pod.Labels, term.MatchLabelKeys, term.MismatchLabelKeys)
	if err != nil {
		return spreadTerm{}, false, fmt.Errorf("labelSelector: %w", err)
	}
	t := spreadTerm{selector: sel, namespaces: sets.New(term.Namespaces...)}
	switch ns := term.NamespaceSelector; {
	case ns == nil:
		if len(term.Namespaces) == 0 {
			t.namespaces.Insert(pod.Namespace)
		}
	case len(ns.MatchLabels) == 0 && len(ns.MatchExpressions) == 0:
		t.allNamespaces = true
	case nsLister != nil:
		nsSel, err := metav1.LabelSelectorAsSelector(ns)
		if err != nil {
			return spreadTerm{}, false, fmt.Errorf("namespaceSelector: %w", err)
		}
		list, err := nsLister.List(nsSel)
		if err != nil {
			return spreadTerm{}, false, fmt.Errorf("listing the namespaces of namespaceSelector: %w", err)
		}
		for _, n := range list {
			t.namespaces.Insert(n.Name)
		}
	}
	return t, true, nil
}

// selectorWithKeys is sel with the pod's own values of matchKeys required (key=value) and of
// mismatchKeys excluded (key!=value), as the API server merges them into the selector of pods
// it admits; doing it again is harmless.
func selectorWithKeys(sel *metav1.LabelSelector, podLabels map[string]string, matchKeys, mismatchKeys []string) (labels.Selector, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	for _, keys := range []struct {
		keys []string
		op   selection.Operator
	}{{matchKeys, selection.Equals}, {mismatchKeys, selection.NotEquals}} {
		for _, k := range keys.keys {
			v, ok := podLabels[k]
			if !ok {
				continue
			}
			r, err := labels.NewRequirement(k, keys.op, []string{v})
			if err != nil {
				return nil, fmt.Errorf("key %q of the pod's labels: %w", k, err)
			}
			s = s.Add(*r)
		}
	}
	return s, nil
}

// isSibling says whether the resident pod p is one the spreading is about. Leaving pods
// (terminating or finished) are not: they are going, as PodTopologySpread also reads them.
func (s *spreading) isSibling(p *v1.Pod) bool {
	if leaving(p) {
		return false
	}
	if s.owner != "" {
		if p.Namespace != s.namespace {
			return false
		}
		ref := metav1.GetControllerOfNoCopy(p)
		return ref != nil && ref.UID == s.owner
	}
	for i := range s.terms {
		t := &s.terms[i]
		if (t.allNamespaces || t.namespaces.Has(p.Namespace)) && t.selector.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

// siblingsOn counts the pod's siblings on the node: O(pods on the node), no allocation. It reads
// only nodeInfo, so it is right for the snapshot and for what-if NodeInfos alike.
func (s *spreading) siblingsOn(nodeInfo fwk.NodeInfo) int64 {
	if s.none() {
		return 0
	}
	var n int64
	for _, pi := range nodeInfo.GetPods() {
		if s.isSibling(pi.GetPod()) {
			n++
		}
	}
	return n
}

// siblingsIn is siblingsOn from the node's cached state (a pod spread by its controller) or
// the terms' cached counts: O(1), unless the counts do not hold the NodeInfo (then noted for the
// next PreScore to derive). For Score only: Filter is given what-if copies, never to be noted.
func (s *spreading) siblingsIn(ns *nodeState, nodeInfo fwk.NodeInfo) int64 {
	switch {
	case s.none():
		return 0
	case len(s.terms) == 0:
		return int64(ns.replicas[s.controller])
	case s.counts != nil:
		if n, ok := s.counts.Get(nodeInfo); ok {
			return n
		}
		s.counts.Note(nodeInfo)
	}
	return s.siblingsOn(nodeInfo)
}

// Score packs a node's relation to the pod and its sibling count into the one number Score may
// return, for NormalizeScore to apply the rule once the fewest siblings over the candidates are
// known. Packed scores are never negative.
const numRelations = int64(workloadtype.NumRelations)

func packScore(r workloadtype.Relation, siblings int64) int64 {
	return siblings*numRelations + int64(r)
}

func unpackScore(raw int64) (workloadtype.Relation, int64) {
	return workloadtype.Relation(raw % numRelations), raw / numRelations
}

// suits says whether a node of relation r sets the fewest siblings the rule compares with.
func suits(r workloadtype.Relation) bool {
	return r == workloadtype.SameType || r == workloadtype.Free
}

// spreadScore is the rule for one node: its type score, or 0 if it holds more siblings than
// least, the fewest on a suitable node.
func spreadScore(typeScore, siblings, least int64) int64 {
	if siblings > least {
		return 0
	}
	return typeScore
}
