package pgserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestQueryTime times every TPC-H-style query on a tiny scale factor.
func TestQueryTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := StartT(t)
	if err := s.CreateDatabase(ctx, "tpch"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTPCH(ctx, "tpch", TPCHScale(0.001)); err != nil {
		t.Fatal(err)
	}
	const runs = 3
	for _, q := range TPCHQueries {
		t.Run(q, func(t *testing.T) {
			times, err := s.QueryTime(ctx, "tpch", q, runs)
			if err != nil {
				t.Fatal(err)
			}
			if len(times) != runs {
				t.Fatalf("%d times for %d runs: %v", len(times), runs, times)
			}
			for i, d := range times {
				if d <= 0 {
					t.Errorf("run %d took %v", i+1, d)
				}
			}
		})
	}
	if _, err := s.QueryTime(ctx, "tpch", "q99", 1); err == nil || !strings.Contains(err.Error(), `no TPC-H query "q99"`) {
		t.Errorf("unknown query: error %v", err)
	}
	if _, err := s.QueryTime(ctx, "tpch", "q1", 0); err == nil || !strings.Contains(err.Error(), "runs 0") {
		t.Errorf("no runs: error %v", err)
	}
	if _, err := s.QueryTime(ctx, "no_such_db", "q1", 1); err == nil || !strings.Contains(err.Error(), "no_such_db") {
		t.Errorf("missing database: error %v", err)
	}
}

func TestQueryTimeInputs(t *testing.T) {
	for _, tc := range []struct {
		name, script, want, wantErr string
	}{{
		name:   "an undefined variable, not a prefix of a longer name",
		script: "-- Q: a comment\n\\set year random(1993, 1997)\n\\set d random(0, 31)\nSELECT :year + 1, :d, '1'::int, :days, x::date FROM t WHERE y = :d;\n",
		// :days is not :d followed by "ays"; it is undefined.
		wantErr: "variables no \\set defines: [days]",
	}, {
		name:   "substitution",
		script: "\\set year random(1993, 1997)\n  \\set d random(-3, 0)\nSELECT :year + 1, :d, '1'::int, x::date, make_date(:year, 1, 1) FROM t;\n",
		want:   "SELECT 1995 + 1, -1, '1'::int, x::date, make_date(1995, 1, 1) FROM t;\n",
	}, {
		name:    "another meta-command",
		script:  "\\set x random(1, 2)\n\\sleep 10 ms\nSELECT :x;\n",
		wantErr: `script s line 2: "\\sleep 10 ms": only \set name random(a, b)`,
	}, {
		name:    "another random form",
		script:  "\\set x random_gaussian(1, 10, 2.5)\nSELECT :x;\n",
		wantErr: `script s line 1: "\\set x random_gaussian(1, 10, 2.5)"`,
	}, {
		name:    "an expression",
		script:  "\\set x 1 + 2\nSELECT :x;\n",
		wantErr: `script s line 1`,
	}, {
		name:    "bounds reversed",
		script:  "\\set x random(5, 1)\nSELECT :x;\n",
		wantErr: "bounds must be integers a <= b",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fixScriptInputs("s", tc.script)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SQL (-want,+got):\n%s", diff)
			}
		})
	}
	// Every shipped query has only the inputs QueryTime can fix.
	for _, q := range TPCHQueries {
		sql, err := TPCHQuerySQL(q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
		} else if strings.Contains(sql, `\set`) {
			t.Errorf("%s still has \\set:\n%s", q, sql)
		}
	}
}

func TestTPCHScale(t *testing.T) {
	for _, tc := range []struct {
		sf   float64
		want TPCHSize
	}{
		{1, TPCHSize{Suppliers: 10000, Customers: 150000, Parts: 200000, Orders: 1500000}},
		{0.2, TPCHClassifierTests},
		{0.1, TPCHSize{Suppliers: 1000, Customers: 15000, Parts: 20000, Orders: 150000}},
		{0.00001, TPCHSize{Suppliers: 1, Customers: 2, Parts: 2, Orders: 15}},
		{0, TPCHSize{Suppliers: 1, Customers: 1, Parts: 1, Orders: 1}},
		{0.00005, TPCHSize{Suppliers: 1, Customers: 8, Parts: 10, Orders: 75}}, // 0.5 suppliers rounds up
	} {
		t.Run(fmt.Sprint(tc.sf), func(t *testing.T) {
			if diff := cmp.Diff(tc.want, TPCHScale(tc.sf)); diff != "" {
				t.Errorf("TPCHScale(%v) (-want,+got):\n%s", tc.sf, diff)
			}
		})
	}
}
