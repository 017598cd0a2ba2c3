package rebalancer

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// move is an eviction in flight: from the eviction until the workload is whole again with the
// replacement ready, or until Config.MoveTimeout.
type move struct {
	podUID  types.UID
	pod     string // namespace/name
	typ     workloadtype.Type
	from    string
	targets []string
	at      time.Time
}

// workloadMemory is what the rebalancer remembers of one workload's moves.
type workloadMemory struct {
	moves        []time.Time // eviction times within Config.MoveWindow
	lastDone     time.Time   // when the latest move ended
	backoff      time.Duration
	backoffUntil time.Time
	inFlight     *move
}

// memory is the rebalancer's recollection of recent moves, by workload and by pod UID. It is the
// leader's alone and lives for the process; a restarted rebalancer relearns in-flight moves from
// the cluster (a workload with a pod not ready is never touched) and starts with empty limits.
type memory struct {
	workloads map[string]*workloadMemory
	evicted   map[types.UID]time.Time // pod UIDs evicted, to refuse a second eviction of one pod
	recent    []time.Time             // all eviction times within the last minute
	cursor    int                     // where the next cycle's simulations start among the candidates
}

func newMemory() *memory {
	return &memory{workloads: map[string]*workloadMemory{}, evicted: map[types.UID]time.Time{}}
}

func (m *memory) workload(key string) *workloadMemory {
	w := m.workloads[key]
	if w == nil {
		w = &workloadMemory{}
		m.workloads[key] = w
	}
	return w
}

// evictionsInLastMinute forgets older ones and counts the rest.
func (m *memory) evictionsInLastMinute(now time.Time) int {
	m.recent = slices.DeleteFunc(m.recent, func(t time.Time) bool { return now.Sub(t) >= time.Minute })
	return len(m.recent)
}

// recordEviction remembers an eviction as the start of a move.
func (m *memory) recordEviction(key string, mv *move) {
	w := m.workload(key)
	w.moves = append(w.moves, mv.at)
	w.inFlight = mv
	m.evicted[mv.podUID] = mv.at
	m.recent = append(m.recent, mv.at)
}

// refused backs the workload off after an eviction the API refused (a PDB, throttling, an
// error): no second try in this cycle, and the wait doubles up to max.
func (m *memory) refused(key string, now time.Time, base, max time.Duration) time.Duration {
	w := m.workload(key)
	w.backoff = nextBackoff(w.backoff, base, max)
	w.backoffUntil = now.Add(w.backoff)
	return w.backoff
}

// finished ends the workload's move; stuck says whether the replacement stayed where it belongs.
// A move that did not stick backs the workload off.
func (m *memory) finished(key string, now time.Time, stuck bool, base, max time.Duration) time.Duration {
	w := m.workload(key)
	w.inFlight = nil
	w.lastDone = now
	if stuck {
		w.backoff = 0
		return 0
	}
	w.backoff = nextBackoff(w.backoff, base, max)
	w.backoffUntil = now.Add(w.backoff)
	return w.backoff
}

// forgetOld drops what no rule looks at any more.
func (m *memory) forgetOld(now time.Time, cfg *Config) {
	keep := max(cfg.MoveWindow, cfg.WorkloadCooldown, cfg.MaxBackoff)
	for uid, at := range m.evicted {
		if now.Sub(at) > keep {
			delete(m.evicted, uid)
		}
	}
	for key, w := range m.workloads {
		w.moves = slices.DeleteFunc(w.moves, func(t time.Time) bool { return now.Sub(t) >= cfg.MoveWindow })
		if w.inFlight == nil && len(w.moves) == 0 && now.After(w.backoffUntil) && now.Sub(w.lastDone) > keep {
			delete(m.workloads, key)
		}
	}
}

func nextBackoff(cur, base, max time.Duration) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	if cur == 0 {
		return min(base, max)
	}
	return min(2*cur, max)
}
