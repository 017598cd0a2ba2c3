package rebalancer

import (
	"errors"
	"fmt"
	"time"
)

// Config is the rebalancer's configuration. `likewise rebalancer` sets it from flags, and every
// error Validate returns names the flag.
type Config struct {
	// Profile is the scheduler profile simulated (--profile); only pods with this
	// spec.schedulerName are moved, since its scheduler places their replacements.
	Profile string
	// Interval is the time between cycles (--interval).
	Interval time.Duration
	// MinPodAge: a pod, and the type on it, must be at least this old (--min-pod-age).
	MinPodAge time.Duration
	// DryRun makes every decision, Event and log line, and no mutating call (--dry-run).
	DryRun bool

	// MaxEvictionsPerCycle, MaxEvictionsPerNode (from one node, per cycle) and
	// MaxEvictionsPerNamespace (per cycle) bound one cycle's evictions.
	MaxEvictionsPerCycle     int
	MaxEvictionsPerNode      int
	MaxEvictionsPerNamespace int
	// MaxEvictionsPerMinute bounds the eviction rate over any minute (--max-evictions-per-minute).
	MaxEvictionsPerMinute int
	// MaxSimulationsPerCycle bounds the scheduler simulations of one cycle
	// (--max-simulations-per-cycle): each runs every filter on every node. Candidates past it
	// wait for the next cycle, which starts where this one stopped.
	MaxSimulationsPerCycle int
	// WorkloadCooldown is the least time between two moves of one workload's pods
	// (--workload-cooldown).
	WorkloadCooldown time.Duration
	// MaxMovesPerWorkload within MoveWindow (--max-moves-per-workload, --move-window).
	MaxMovesPerWorkload int
	MoveWindow          time.Duration
	// MoveTimeout: a move whose replacement is not ready on a node by then has failed
	// (--move-timeout), and its workload backs off.
	MoveTimeout time.Duration
	// MaxBackoff caps the doubling back-off of a workload whose eviction was refused or whose move
	// did not stick (--max-backoff); it starts at WorkloadCooldown.
	MaxBackoff time.Duration

	// ExcludedNamespaces are never touched (--excluded-namespaces).
	ExcludedNamespaces []string
	// MovableEmptyDirs are emptyDir volume names whose loss is harmless, such as an operator's
	// scratch space (--movable-emptydir-volumes). Any other emptyDir keeps its pod in place.
	MovableEmptyDirs []string
	// SchedulerLeaseNamespace/Name is the lease the replacement's scheduler holds
	// (--scheduler-lease); nothing is evicted unless it was renewed within its duration.
	SchedulerLeaseNamespace, SchedulerLeaseName string
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	return Config{
		Profile:                  "likewise-scheduler",
		Interval:                 time.Minute,
		MinPodAge:                10 * time.Minute,
		MaxEvictionsPerCycle:     5,
		MaxEvictionsPerNode:      1,
		MaxEvictionsPerNamespace: 2,
		MaxEvictionsPerMinute:    10,
		MaxSimulationsPerCycle:   20,
		WorkloadCooldown:         10 * time.Minute,
		MaxMovesPerWorkload:      3,
		MoveWindow:               time.Hour,
		MoveTimeout:              10 * time.Minute,
		MaxBackoff:               6 * time.Hour,
		ExcludedNamespaces:       []string{"kube-system"},
	}
}

// Validate checks every value and names the flag of each bad one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if c.Profile == "" {
		bad("profile", "must name a profile of the scheduler config")
	}
	positive := func(flag string, d time.Duration) {
		if d <= 0 {
			bad(flag, "must be positive, got %v", d)
		}
	}
	positive("interval", c.Interval)
	positive("move-window", c.MoveWindow)
	positive("move-timeout", c.MoveTimeout)
	positive("max-backoff", c.MaxBackoff)
	if c.MinPodAge < 0 {
		bad("min-pod-age", "must not be negative, got %v", c.MinPodAge)
	}
	if c.WorkloadCooldown < 0 {
		bad("workload-cooldown", "must not be negative, got %v", c.WorkloadCooldown)
	}
	atLeastOne := func(flag string, n int) {
		if n < 1 {
			bad(flag, "must be at least 1, got %d", n)
		}
	}
	atLeastOne("max-evictions-per-cycle", c.MaxEvictionsPerCycle)
	atLeastOne("max-evictions-per-node", c.MaxEvictionsPerNode)
	atLeastOne("max-evictions-per-namespace", c.MaxEvictionsPerNamespace)
	atLeastOne("max-evictions-per-minute", c.MaxEvictionsPerMinute)
	atLeastOne("max-simulations-per-cycle", c.MaxSimulationsPerCycle)
	atLeastOne("max-moves-per-workload", c.MaxMovesPerWorkload)
	if c.MaxBackoff > 0 && c.MaxBackoff < c.WorkloadCooldown {
		bad("max-backoff", "must be at least --workload-cooldown (%v), got %v", c.WorkloadCooldown, c.MaxBackoff)
	}
	if (c.SchedulerLeaseNamespace == "") != (c.SchedulerLeaseName == "") {
		bad("scheduler-lease", "must be NAMESPACE/NAME, got %q", c.SchedulerLeaseNamespace+"/"+c.SchedulerLeaseName)
	}
	for _, ns := range c.ExcludedNamespaces {
		if ns == "" {
			bad("excluded-namespaces", "an empty namespace name")
		}
	}
	for _, v := range c.MovableEmptyDirs {
		if v == "" {
			bad("movable-emptydir-volumes", "an empty volume name")
		}
	}
	return errors.Join(errs...)
}
