package notebookspread

import (
	fwk "k8s.io/kube-scheduler/framework"
)

// nodeUsers is what the plugin derives from a node's NodeInfo: its running users. Kept per node
// (pl.nodes) and derived again only when the node's generation moves, so that a cycle costs the
// same whatever the pods already resident. Nodes without notebook servers hold nil maps.
type nodeUsers struct {
	// hubs counts the distinct users of each hub with a counted server on the node.
	hubs map[string]int32
	// owners are the users, of every hub, with a counted server on the node.
	owners map[owner]struct{}
}

// newNodeUsers derives a node's users from its NodeInfo, as usersOn counts them.
func (pl *NotebookSpread) newNodeUsers(nodeInfo fwk.NodeInfo) nodeUsers {
	var u nodeUsers
	for _, pi := range nodeInfo.GetPods() {
		o, ok := pl.counted(pi.GetPod())
		if !ok {
			continue
		}
		if _, dup := u.owners[o]; dup {
			continue
		}
		if u.owners == nil {
			u.owners, u.hubs = map[owner]struct{}{}, map[string]int32{}
		}
		u.owners[o] = struct{}{}
		u.hubs[o.hub]++
	}
	return u
}

// on is usersOn from the node's cached users: O(1), no allocation.
func (u *nodeUsers) on(o owner) (others int, hasUser bool) {
	n := int(u.hubs[o.hub])
	if n == 0 {
		return 0, false
	}
	if _, hasUser = u.owners[o]; hasUser {
		n--
	}
	return n, hasUser
}

// usesCache says whether this cycle may read and update the cache: not in a pod group
// scheduling cycle, where the snapshot assumes the group's pods into NodeInfos without moving
// their generations (see pluginutil.NodeCache).
func usesCache(state fwk.CycleState) bool { return !state.IsPodGroupSchedulingCycle() }

// users is usersOn, from the cache if this cycle reads it and it holds the NodeInfo's
// generation.
func (pl *NotebookSpread) users(cached bool, nodeInfo fwk.NodeInfo, o owner) (others int, hasUser bool) {
	if cached {
		if u, ok := pl.nodes.Get(nodeInfo); ok {
			return u.on(o)
		}
	}
	return pl.usersOn(nodeInfo, o)
}
