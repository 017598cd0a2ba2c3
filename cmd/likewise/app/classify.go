package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
)

// Output formats of classify.
const (
	outputText = "text"
	outputJSON = "json"
)

type classifyOptions struct {
	dsn             string
	caFile          string
	serverName      string
	duration        time.Duration
	interval        time.Duration
	window          time.Duration
	windowsToSwitch int
	output          string

	clock clock.WithTicker
}

func newClassifyCommand() *cobra.Command {
	o := &classifyOptions{
		duration:        2 * time.Minute,
		interval:        5 * time.Second,
		windowsToSwitch: classifier.DefaultWindowsToSwitch,
		output:          outputText,
		clock:           clock.RealClock{},
	}
	cmd := &cobra.Command{
		Use:   "classify --dsn DSN [--duration 2m] [--interval 5s] [--ca-file FILE] [-o text|json]",
		Short: "Sample one PostgreSQL database and print its workload type: oltp, olap, mixed or unknown",
		Long: `Sample one PostgreSQL database's statistics for a while and print its workload type
(oltp, olap, mixed, or unknown when it was idle or too little was seen), the confidence, and the
measurements behind it. It only reads statistics views, in read-only transactions, and never
resets them. docs/classifier.md says how it decides and which privileges the role needs
(pg_read_all_stats).

The password may be in the DSN or in PGPASSWORD. With --ca-file the connection uses TLS and
verifies the server's certificate (sslmode verify-full) against that CA.`,
		Example: `  likewise classify --dsn 'postgres://likewise_monitor@db.example:5432/app' --duration 3m
  PGPASSWORD=... likewise classify --dsn 'host=10.1.2.3 dbname=app user=monitor' \
      --ca-file ca.crt --server-name app-rw.db.svc -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dsn, "dsn", "", "libpq connection string or URL of the database to classify (required)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM file of the CA that signed the server's certificate: use TLS and verify it (verify-full)")
	f.StringVar(&o.serverName, "server-name", "", "name the server's certificate must carry, if not the DSN's host (with --ca-file)")
	f.DurationVar(&o.duration, "duration", o.duration, "how long to sample")
	f.DurationVar(&o.interval, "interval", o.interval, "time between samples")
	f.DurationVar(&o.window, "window", 0, "length of one classification window (default: a quarter of --duration)")
	f.IntVar(&o.windowsToSwitch, "windows-to-switch", o.windowsToSwitch, "windows in a row that must agree on a type")
	f.StringVarP(&o.output, "output", "o", o.output, "output format: text or json")
	return cmd
}

// validate checks the flags; every error names its flag.
func (o *classifyOptions) validate() error {
	var errs []error
	if strings.TrimSpace(o.dsn) == "" {
		errs = append(errs, errors.New("--dsn is required"))
	}
	if o.output != outputText && o.output != outputJSON {
		errs = append(errs, fmt.Errorf("--output %q: must be %s or %s", o.output, outputText, outputJSON))
	}
	if o.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %v: must be positive", o.duration))
	}
	if o.interval <= 0 {
		errs = append(errs, fmt.Errorf("--interval %v: must be positive", o.interval))
	}
	if o.window == 0 {
		o.window = o.duration / 4
	}
	if o.window < o.interval {
		errs = append(errs, fmt.Errorf("--window %v: must be at least --interval (%v)", o.window, o.interval))
	}
	if o.windowsToSwitch > 0 && o.duration > 0 && time.Duration(o.windowsToSwitch)*o.window > o.duration {
		errs = append(errs, fmt.Errorf("--duration %v: shorter than --windows-to-switch (%d) windows of %v, so nothing could be classified",
			o.duration, o.windowsToSwitch, o.window))
	}
	if o.serverName != "" && o.caFile == "" {
		errs = append(errs, errors.New("--server-name: needs --ca-file"))
	}
	return errors.Join(errs...)
}

// classifyOutput is what -o json prints.
type classifyOutput struct {
	Type       classifier.Measured  `json:"type"`
	Confidence float64              `json:"confidence"`
	Reasons    string               `json:"reasons"`
	Server     pgstats.ServerInfo   `json:"server"`
	Config     classifier.Config    `json:"config"`
	Windows    []*classifier.Window `json:"windows"`
	// SampleErrors counts samples that failed (the last error is in LastError).
	SampleErrors int    `json:"sampleErrors"`
	LastError    string `json:"lastError,omitempty"`
}

func (o *classifyOptions) run(ctx context.Context, out, errOut io.Writer) error {
	logger := klog.FromContext(ctx)
	conn := pgstats.ConnConfig{DSN: o.dsn, ServerName: o.serverName}
	if o.caFile != "" {
		ca, err := os.ReadFile(o.caFile)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		conn.CAPEM = ca
	}
	sampler, err := pgstats.NewSampler(conn, o.clock)
	if err != nil {
		return err
	}
	defer func() { _ = sampler.Close(context.WithoutCancel(ctx)) }()
	cfg := classifier.Config{Window: o.window, WindowsToSwitch: o.windowsToSwitch, MinDwell: o.window}
	c, err := classifier.New(cfg, o.clock)
	if err != nil {
		return err
	}
	res := classifyOutput{Type: classifier.Unknown, Config: c.Config()}

	// The first sample fails fast: a wrong DSN or password should not wait for --duration.
	snap, err := sampler.Sample(ctx)
	if err != nil {
		return err
	}
	res.Server = sampler.Info()
	c.Observe(snap)
	if o.output == outputText {
		fmt.Fprintf(errOut, "sampling %s for %v: a sample every %v, windows of %v\n", conn, o.duration, o.interval, o.window)
		if !res.Server.StatStatementsUsable {
			fmt.Fprintf(errOut, "without pg_stat_statements (%s): mixed workloads are harder to tell\n", res.Server.StatStatementsReason)
		}
		if !res.Server.ReadAllStats {
			fmt.Fprintf(errOut, "role %s lacks pg_read_all_stats: statements still running are not visible\n", res.Server.User)
		}
	}

	deadline := o.clock.Now().Add(o.duration)
	tick := o.clock.NewTicker(o.interval)
	defer tick.Stop()
	var last classifier.Result
loop:
	for o.clock.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C():
		}
		snap, err := sampler.Sample(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break loop
			}
			res.SampleErrors++
			res.LastError = err.Error()
			logger.V(1).Info("sample failed", "err", err)
			continue
		}
		last = c.Observe(snap)
		if w := last.Window; w != nil {
			res.Windows = append(res.Windows, w)
			if o.output == outputText {
				fmt.Fprintf(errOut, "window %d: %s (%s)\n", w.Seq, w.Verdict, w.Features)
			}
		}
	}
	final := c.Result()
	res.Type, res.Confidence, res.Reasons = final.Type, final.Confidence, final.Reasons()

	if o.output == outputJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	votes := map[classifier.Verdict]int{}
	for _, w := range res.Windows {
		votes[w.Verdict]++
	}
	var tally []string
	for _, v := range slices.Sorted(maps.Keys(votes)) {
		tally = append(tally, fmt.Sprintf("%s=%d", v, votes[v]))
	}
	fmt.Fprintf(out, "type: %s\nconfidence: %.2f\nwindows: %d (%s)\nreasons: %s\n",
		res.Type, res.Confidence, len(res.Windows), strings.Join(tally, " "), res.Reasons)
	fmt.Fprintf(out, "server: PostgreSQL %d, database %s, pg_stat_statements %s\n",
		res.Server.VersionNum, res.Server.Database, statStatements(res.Server))
	if res.SampleErrors > 0 {
		fmt.Fprintf(out, "sample errors: %d (last: %s)\n", res.SampleErrors, res.LastError)
	}
	return nil
}

func statStatements(info pgstats.ServerInfo) string {
	if info.StatStatementsUsable {
		return info.StatStatements
	}
	return "not used: " + info.StatStatementsReason
}
