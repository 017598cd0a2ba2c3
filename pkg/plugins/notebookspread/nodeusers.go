package notebookspread

import (
	"hash/maphash"
	"sync"

	fwk "k8s.io/kube-scheduler/framework"
)

// nodeUsers is what the plugin derives from a node's NodeInfo: its running users. Kept per node
// (pl.nodes) and derived again only when the node's generation moves, so that a cycle costs the
// same whatever the pods already resident. It is laid out for Filter and Score, which read it for
// every node: the hubs inline, their names interned (so comparing them compares pointers), and a
// Bloom filter of the users in front of the map of them, so that the usual question, "does the
// pending pod's user run a server here?", is mostly answered "no" without the map.
type nodeUsers struct {
	// hubs counts the distinct users of each hub with a counted server on the node.
	hubs []hubUsers
	// bloom holds two bits of each owner's hash (see pending); owners, by ownerKey, is nil on
	// a node without users.
	bloom  [4]uint64
	owners map[string]struct{}
}

type hubUsers struct {
	hub   string // interned
	users int32
}

// pending is the pod being scheduled, as nodeUsers.on reads it: computed once per cycle.
type pending struct {
	owner
	// key is ownerKey(owner), hub is owner.hub interned, bits its two Bloom bits.
	key        string
	hub        string
	bit1, bit2 uint8
}

// ownerKey is the key of o in nodeUsers.owners. A hub (a namespace or a label value) holds no
// NUL, so the key is unambiguous.
func ownerKey(o owner) string { return o.hub + "\x00" + o.user }

// maxInterned bounds the hub names interned; past it, hubs are compared by content.
const maxInterned = 4096

// hubNames interns hub names, so that two equal names share their bytes.
type hubNames struct {
	mu    sync.Mutex
	names map[string]string
}

func (h *hubNames) intern(s string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.names[s]; ok {
		return v
	}
	if h.names == nil {
		h.names = map[string]string{}
	}
	if len(h.names) < maxInterned {
		h.names[s] = s
	}
	return s
}

func (pl *NotebookSpread) bloomBits(key string) (uint8, uint8) {
	h := maphash.String(pl.seed, key)
	return uint8(h), uint8(h >> 8)
}

// newPending returns the pending pod of owner o.
func (pl *NotebookSpread) newPending(o owner) pending {
	p := pending{owner: o, key: ownerKey(o), hub: pl.hubNames.intern(o.hub)}
	p.bit1, p.bit2 = pl.bloomBits(p.key)
	return p
}

// newNodeUsers derives a node's users from its NodeInfo, as usersOn counts them.
func (pl *NotebookSpread) newNodeUsers(nodeInfo fwk.NodeInfo) nodeUsers {
	var u nodeUsers
	for _, pi := range nodeInfo.GetPods() {
		o, ok := pl.counted(pi.GetPod())
		if !ok {
			continue
		}
		k := ownerKey(o)
		if _, dup := u.owners[k]; dup {
			continue
		}
		if u.owners == nil {
			u.owners = map[string]struct{}{}
		}
		u.owners[k] = struct{}{}
		b1, b2 := pl.bloomBits(k)
		u.bloom[b1>>6] |= 1 << (b1 & 63)
		u.bloom[b2>>6] |= 1 << (b2 & 63)
		hub := pl.hubNames.intern(o.hub)
		found := false
		for i := range u.hubs {
			if u.hubs[i].hub == hub {
				u.hubs[i].users++
				found = true
				break
			}
		}
		if !found {
			u.hubs = append(u.hubs, hubUsers{hub: hub, users: 1})
		}
	}
	return u
}

// on is usersOn from the node's cached users: O(hubs on the node), no allocation.
func (u *nodeUsers) on(p *pending) (others int, hasUser bool) {
	n := 0
	for i := range u.hubs {
		if u.hubs[i].hub == p.hub {
			n = int(u.hubs[i].users)
			break
		}
	}
	if n == 0 {
		return 0, false
	}
	if u.bloom[p.bit1>>6]&(1<<(p.bit1&63)) == 0 || u.bloom[p.bit2>>6]&(1<<(p.bit2&63)) == 0 {
		return n, false
	}
	if _, hasUser = u.owners[p.key]; hasUser {
		n--
	}
	return n, hasUser
}

// usesCache says whether this cycle may read and update the cache: not in a pod group
// scheduling cycle, where the snapshot assumes the group's pods into NodeInfos without moving
// their generations (see pluginutil.NodeCache).
func usesCache(state fwk.CycleState) bool { return !state.IsPodGroupSchedulingCycle() }

// users is usersOn, from the cache if this cycle reads it and it holds the NodeInfo's
// generation. With note set (Score's call; never Filter's, which is given what-if copies), a
// node the cache misses is noted for the next PreScore to derive again.
func (pl *NotebookSpread) users(cached, note bool, nodeInfo fwk.NodeInfo, p *pending) (others int, hasUser bool) {
	if cached {
		if u, ok := pl.nodes.Get(nodeInfo); ok {
			return u.on(p)
		}
		if note {
			pl.nodes.Note(nodeInfo)
		}
	}
	return pl.usersOn(nodeInfo, p.owner)
}
