package explain

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WritePod prints r for people: the verdict first, then one aligned line per fact.
func WritePod(w io.Writer, r *PodReport) error {
	fmt.Fprintf(w, "%s/%s: %s\n\n", r.Namespace, r.Name, r.Verdict)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s:\t%s\n", k, fmt.Sprintf(format, args...)) }
	t := r.Type
	switch {
	case t.Type == "":
		line("type", "none (no %s label and no record on its workload)", "likewise.dev/workload-type")
	default:
		line("type", "%s from %s %s%s", t.Type, t.Source, t.From, by(t.SetBy))
	}
	if t.Error != "" {
		line("type error", "%s", t.Error)
	}
	if t.Type != "" {
		if t.Counted {
			line("counted", "yes: it counts for its node's type and mixing")
		} else {
			line("counted", "no: only a resident pod's label counts for its node")
		}
	}
	if rec := t.Record; rec != nil {
		if rec.Error != "" {
			line("record", "invalid: %s", rec.Error)
		} else {
			line("record", "%s on %s%s", rec.Type, rec.From, by(rec.RecordedBy))
		}
	}
	if ev := t.Classifier; ev != nil {
		line("classifier", "measured %s, confidence %s, classified at %s", or(ev.Measured, "-"), or(ev.Confidence, "-"), or(ev.ClassifiedAt, "-"))
		if ev.Reasons != "" {
			line("reasons", "%s", ev.Reasons)
		}
	}
	if n := r.Node; n != nil {
		line("node", "%s", nodeLine(*n))
		if r.Misplaced {
			line("misplaced", "yes: it adds to node %s's mixing", n.Name)
		} else {
			line("misplaced", "no")
		}
	} else {
		line("node", "none (pending)")
	}
	writeRebalancer(line, r.Rebalancer)
	for _, warn := range r.Warnings {
		line("warning", "%s", warn)
	}
	return tw.Flush()
}

func writeRebalancer(line func(string, string, ...any), rb RebalancerReport) {
	if !rb.Considered {
		line("rebalancer", "not considered: %s", rb.Message)
		return
	}
	line("rebalancer", "%s %s: %s", rb.Action, rb.Reason, rb.Message)
	if rb.Workload != "" {
		line("workload", "%s", rb.Workload)
	}
	if len(rb.Targets) > 0 {
		line("targets", "%s", strings.Join(rb.Targets, ", "))
	}
	for _, d := range rb.Disruptions {
		state := "allows it"
		if d.Blocks {
			state = "blocks an eviction now"
		}
		line("disruption budget", "%s: %d disruption(s) allowed, %s", d.Name, d.DisruptionsAllowed, state)
	}
	if rb.CannotKnow != "" {
		line("cannot know", "%s", rb.CannotKnow)
	}
}

// WriteNode prints r for people: the verdict, the node's counts, one line per misplaced pod.
func WriteNode(w io.Writer, r *NodeReport) error {
	fmt.Fprintf(w, "node %s: %s\n\n", r.Name, r.Verdict)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "type:\t%s\n", nodeLine(r.Node))
	fmt.Fprintf(tw, "untyped pods:\t%d\n", r.Untyped)
	for _, warn := range r.Warnings {
		fmt.Fprintf(tw, "warning:\t%s\n", warn)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Misplaced) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MISPLACED POD\tTYPE\tACTION\tREASON\tTARGETS\tMESSAGE")
	for _, p := range r.Misplaced {
		action := p.Action
		reason := p.Reason
		if p.EvictionBlocked {
			action, reason = "Evict (refused)", "EvictionBlocked"
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name, p.Type, or(action, "-"), or(reason, "-"),
			or(strings.Join(p.Targets, ","), "-"), p.Message)
	}
	return tw.Flush()
}

func nodeLine(n NodeSummary) string {
	pool := "no pool label, typed by its residents"
	if n.Pool != "" {
		pool = "pool label " + n.Pool
	}
	return fmt.Sprintf("%s %s (%d oltp, %d olap; %s; mixing %d; majority %d%%)", n.Name, n.Type, n.OLTP, n.OLAP, pool, n.Mixing, n.MajorityPercent)
}

func by(who string) string {
	if who == "" {
		return ""
	}
	return " (set by " + who + ")"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
