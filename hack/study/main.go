// Command study is `make study`: the study likewise exists for, on the local cluster with nodes
// that bound CPU (cgroups) and a real PostgreSQL server per database pod. It prints the report's
// tables and writes report.json, report.md and report.svg to -out. See docs/study.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/study"
)

func main() {
	fs := flag.NewFlagSet("study", flag.ExitOnError)
	klog.InitFlags(fs)
	d := study.DefaultOptions()
	dir := fs.String("dir", filepath.Join("_output", "study"), "state directory: the study's cluster, the servers' data, the pgbench logs")
	out := fs.String("out", "", "directory of report.json, report.md and report.svg (default: -dir)")
	tools := fs.String("tools", "", "directory of the cluster binaries (default $"+localcluster.EnvToolsDir+", else <repo>/_output/bin)")
	nodes := fs.Int("nodes", d.Nodes, "nodes of each phase (the study: 2); must divide the 6 databases of each type")
	spare := fs.Float64("spare-cpus", float64(d.Settings[0].NodeCPUMilli)/1000, "CPUs per node in the spare setting (the study: 8)")
	saturated := fs.Float64("saturated-cpus", float64(d.Settings[1].NodeCPUMilli)/1000, "CPUs per node in the saturated setting (the study: 4)")
	phase := fs.Duration("phase", d.Phase, "length of each measurement, after the warm-up")
	warmup := fs.Duration("warmup", d.Warmup, "warm-up before each measurement")
	clients := fs.Int("oltp-clients", d.OLTPClients, "pgbench clients of the measured OLTP database")
	sf := fs.Float64("tpch-scale", d.TPCHScaleFactor, "TPC-H scale factor of the OLAP databases")
	olapPause := fs.Duration("background-olap-pause", d.BackgroundOLAPPause, "pause between two Q1 queries of each unmeasured OLAP database (shorter: heavier analytic nodes)")
	oltpRate := fs.Float64("background-oltp-rate", d.BackgroundOLTPRate, "TPC-C-like transactions per second of each unmeasured OLTP database")
	short := fs.Bool("short", false, "tiny data and 4-second phases: checks the mechanism in minutes; the numbers mean nothing")
	_ = fs.Parse(os.Args[1:])

	o := d
	if *short {
		o = study.ShortOptions()
	}
	o.StateDir, o.ToolsDir, o.Nodes = *dir, *tools, *nodes
	o.Settings = study.ScaledSettings(*spare, *saturated)
	if !*short {
		o.Phase, o.Warmup, o.OLTPClients, o.TPCHScaleFactor = *phase, *warmup, *clients, *sf
	}
	o.BackgroundOLAPPause, o.BackgroundOLTPRate = *olapPause, *oltpRate
	o.Progress = os.Stdout
	if *out == "" {
		*out = *dir
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	r, err := study.Run(ctx, o)
	if r != nil {
		if werr := study.WriteFiles(*out, r); werr != nil {
			fmt.Fprintf(os.Stderr, "study: writing the report: %v\n", werr)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "study: %v\n", err)
		os.Exit(1)
	}
	fmt.Println()
	if err := study.WriteTable(os.Stdout, r); err != nil {
		fmt.Fprintf(os.Stderr, "study: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nDone in %v. Report: %s\n", time.Since(start).Round(time.Second),
		filepath.Join(*out, "report.{json,md,svg}"))
}
