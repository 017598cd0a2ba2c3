package pgserver

import (
	"context"
	"embed"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// TPC-H-style analytics for OLAP loads: tables generated inside the database with
// generate_series (no dbgen), and TPC-H queries as pgbench scripts.
//
//go:embed tpch/*.sql
var tpchFiles embed.FS

// TPCHSize is how many rows the TPC-H-style tables get; each order has four line items.
type TPCHSize struct {
	Suppliers, Customers, Parts, Orders int
}

// Sizes of the TPC-H-style data.
var (
	// TPCHClassifierTests is the classifier's integration tests' size: 300 000 orders, 1.2 M line
	// items, 146 MB, about 5 s to generate here; queries take 0.1-1.4 s.
	TPCHClassifierTests = TPCHSize{Suppliers: 2000, Customers: 30000, Parts: 40000, Orders: 300000}
	// TPCHSmall is a third of that: 100 000 orders, about 1.5 s to generate; Q1 takes about
	// 0.2 s, the joins 30-60 ms. For many small analytic databases (the controller's tests, the demo).
	TPCHSmall = TPCHSize{Suppliers: 2000, Customers: 10000, Parts: 20000, Orders: 100000}
)

// TPC-H's row counts at scale factor 1 (about 1 GB of dbgen text).
const (
	TPCHSF1Suppliers = 10000
	TPCHSF1Customers = 150000
	TPCHSF1Parts     = 200000
	TPCHSF1Orders    = 1500000
)

// TPCHScale is TPC-H's size at scale factor sf: its SF 1 counts times sf, rounded, at least 1
// each. Line items are four per order here, TPC-H's average. By that naming
// TPCHClassifierTests is exactly SF 0.2 (TPCHScale(0.2)), and TPCHSmall is SF 0.067 by its
// orders and customers, with the suppliers of SF 0.2 and the parts of SF 0.1. Measured here
// (CreateTPCH; QueryTime, warm): SF 0.1 is 77 MB, loads in 1.4 s, Q1 takes 0.3 s and the others
// 40-80 ms; SF 1 is 700 MB, loads in 14 s, Q1 takes 2.9 s, Q3 1.1-1.3 s, Q5, Q10, Q12 0.6-1 s,
// Q6 0.5 s.
func TPCHScale(sf float64) TPCHSize {
	n := func(sf1 int) int { return max(int(math.Round(sf*float64(sf1))), 1) }
	return TPCHSize{Suppliers: n(TPCHSF1Suppliers), Customers: n(TPCHSF1Customers), Parts: n(TPCHSF1Parts),
		Orders: n(TPCHSF1Orders)}
}

// TPCHQueries are the queries there are scripts for: Q1 (a full scan of lineitem with
// aggregation), Q3, Q5, Q10, Q12 (joins and aggregations) and Q6 (a filtered scan).
var TPCHQueries = []string{"q1", "q3", "q5", "q6", "q10", "q12"}

// CreateTPCH creates and fills the TPC-H-style tables in db and analyzes them, as the superuser.
func (s *Server) CreateTPCH(ctx context.Context, db string, size TPCHSize) error {
	if size.Suppliers < 1 || size.Customers < 1 || size.Parts < 1 || size.Orders < 1 {
		return fmt.Errorf("TPC-H size %+v: every count must be at least 1", size)
	}
	dir, err := os.MkdirTemp("", "tpch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "schema.sql")
	if err := writeTPCHFile(path, "schema", 0); err != nil {
		return err
	}
	return s.PsqlFile(ctx, db, path, map[string]string{
		"suppliers": strconv.Itoa(size.Suppliers), "customers": strconv.Itoa(size.Customers),
		"parts": strconv.Itoa(size.Parts), "orders": strconv.Itoa(size.Orders),
	})
}

// WriteTPCHScripts writes the pgbench scripts of the named queries (TPCHQueries) into dir and
// returns them, equally weighted. With pause > 0 each script sleeps that long after its query
// (pgbench \sleep), so one client runs a query every pause plus its own time: a steady, light
// analytic load, unlike -R's random arrivals.
func WriteTPCHScripts(dir string, pause time.Duration, queries ...string) ([]Script, error) {
	if len(queries) == 0 {
		return nil, fmt.Errorf("no queries named; choose from %v", TPCHQueries)
	}
	var scripts []Script
	for _, q := range queries {
		path := filepath.Join(dir, q+".sql")
		if err := writeTPCHFile(path, q, pause); err != nil {
			return nil, err
		}
		scripts = append(scripts, Script{Path: path})
	}
	return scripts, nil
}

func writeTPCHFile(path, name string, pause time.Duration) error {
	data, err := tpchFiles.ReadFile("tpch/" + name + ".sql")
	if err != nil {
		return fmt.Errorf("no TPC-H script %q (have %v): %w", name, TPCHQueries, err)
	}
	if pause > 0 {
		data = append(data, fmt.Sprintf("\\sleep %d ms\n", pause.Milliseconds())...)
	}
	return os.WriteFile(path, data, 0o644)
}
