package pgserver

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTPCH generates tiny TPC-H-style tables and runs every query script once through pgbench.
func TestTPCH(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := StartT(t)
	if err := s.CreateDatabase(ctx, "tpch"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTPCH(ctx, "tpch", TPCHSize{Suppliers: 10, Customers: 50, Parts: 60, Orders: 100}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Psql(ctx, "tpch", "SELECT (SELECT count(*) FROM supplier) || ' ' || (SELECT count(*) FROM customer) || ' ' || "+
		"(SELECT count(*) FROM part) || ' ' || (SELECT count(*) FROM orders) || ' ' || (SELECT count(*) FROM lineitem)")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("10 50 60 100 400", got); diff != "" {
		t.Errorf("rows of supplier, customer, part, orders, lineitem (-want,+got):\n%s", diff)
	}

	scripts, err := WriteTPCHScripts(t.TempDir(), 250*time.Millisecond, TPCHQueries...)
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) != len(TPCHQueries) {
		t.Fatalf("%d scripts for %d queries", len(scripts), len(TPCHQueries))
	}
	for _, sc := range scripts {
		data, err := os.ReadFile(sc.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(data), "\\sleep 250 ms\n") {
			t.Errorf("%s does not end with the pause:\n%s", sc.Path, data)
		}
	}
	// Each script runs once without error (-t 1 per client, one client per script).
	for _, sc := range scripts {
		out, err := s.pgbench(ctx, "tpch", "-n", "-t", "1", "-f", sc.Path).CombinedOutput()
		if err != nil {
			t.Errorf("pgbench -f %s: %v\n%s", sc.Path, err, out)
		}
	}

	if _, err := WriteTPCHScripts(t.TempDir(), 0, "q99"); err == nil || !strings.Contains(err.Error(), `no TPC-H script "q99"`) {
		t.Errorf("unknown query: error %v", err)
	}
	if err := s.CreateTPCH(ctx, "tpch", TPCHSize{}); err == nil {
		t.Error("CreateTPCH accepted an empty size")
	}
}
