package pgserver

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/template"
)

// TPC-C-like transactions for OLTP loads: TPC-C's tables generated inside the database with
// generate_series (no loader program), and its five transactions as pgbench scripts. It is
// TPC-C-like, not TPC-C: no terminals, keying or think times, and the simplifications each
// script's header states.
//
//go:embed tpcc/*.sql
var tpccFiles embed.FS

// TPCCSize is how many rows the TPC-C-like tables get. TPC-C's ratios are kept: 10 districts per
// warehouse, a stock row per item and warehouse, one order and one history row per customer, 5-15
// lines per order, the last 30 % of each district's orders not yet delivered.
type TPCCSize struct {
	Warehouses int // at least 1
	// Items is the item count and each warehouse's stock count; 0 means TPC-C's 100 000.
	Items int
	// CustomersPerDistrict is also each district's initial order count; 0 means TPC-C's 3000.
	CustomersPerDistrict int
}

// TPC-C's own counts, which a zero TPCCSize field means.
const (
	TPCCItems                = 100000
	TPCCCustomersPerDistrict = 3000
	// TPCCDistrictsPerWarehouse is fixed, as in TPC-C.
	TPCCDistrictsPerWarehouse = 10
)

// Sizes of the TPC-C-like data. Load times are CreateTPCC's on this project's 2-core machine with
// the harness's server settings (the machine otherwise lightly loaded); throughput is the mix
// from WriteTPCCScripts, pgbench -c 1 -j 1 for 30 s, the first 5 s left out.
var (
	// TPCCStudy is one full TPC-C warehouse: 100 000 items and stock rows, 30 000 customers and
	// orders, about 300 000 order lines; 118 MB, loaded in 3.6 s. One client: about 620
	// transactions per second (16 700 new-orders a minute), p50 1.3 ms, p99 5.7 ms.
	TPCCStudy = TPCCSize{Warehouses: 1}
	// TPCCSmall has a tenth of a warehouse's items and customers: 10 000 items and stock rows,
	// 3000 customers and orders, about 30 000 order lines; 19 MB, loaded in 0.5 s. One client:
	// about 620 transactions per second, p50 1.2 ms, p99 3.5 ms; two clients about 930. With
	// one warehouse, the mix is bound by the client's round trips and the CPU, not by its size.
	TPCCSmall = TPCCSize{Warehouses: 1, Items: 10000, CustomersPerDistrict: 300}
)

// TPCCTransactions are the scripts WriteTPCCScripts writes, in its order: pgbench's script_no
// (Transaction.Script) indexes this list.
var TPCCTransactions = []string{"new-order", "payment", "order-status", "delivery", "stock-level"}

// tpccWeights is TPC-C's minimum mix, in TPCCTransactions' order.
var tpccWeights = []int{45, 43, 4, 4, 4}

// TPCCNewOrderLines is how many lines every new-order has: pgbench scripts cannot loop, so the
// script is unrolled to TPC-C's average.
const TPCCNewOrderLines = 10

func (z TPCCSize) withDefaults() TPCCSize {
	if z.Items == 0 {
		z.Items = TPCCItems
	}
	if z.CustomersPerDistrict == 0 {
		z.CustomersPerDistrict = TPCCCustomersPerDistrict
	}
	return z
}

func (z TPCCSize) validate() error {
	if z.Warehouses < 1 || z.Items < 0 || z.CustomersPerDistrict < 0 {
		return fmt.Errorf("TPC-C-like size %+v: Warehouses must be at least 1, Items and CustomersPerDistrict at least 0 (TPC-C's)", z)
	}
	return nil
}

// Vars are the pgbench variables (Pgbench.Vars, pgbench -D) that WriteTPCCScripts' scripts need
// to draw keys that exist in a database of this size.
func (z TPCCSize) Vars() map[string]string {
	z = z.withDefaults()
	return map[string]string{
		"warehouses": strconv.Itoa(z.Warehouses),
		"items":      strconv.Itoa(z.Items),
		"customers":  strconv.Itoa(z.CustomersPerDistrict),
	}
}

// CreateTPCC creates and fills the TPC-C-like tables in db, with TPC-C's primary keys and its
// customer-by-last-name index, and analyzes them, as the superuser.
func (s *Server) CreateTPCC(ctx context.Context, db string, size TPCCSize) error {
	if err := size.validate(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tpcc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "schema.sql")
	data, err := tpccFiles.ReadFile("tpcc/schema.sql")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	vars := size.Vars()
	c := size.withDefaults().CustomersPerDistrict
	// TPC-C: orders 2101..3000 of 3000 are undelivered.
	vars["undelivered"] = strconv.Itoa(c - c*3/10 + 1)
	if err := s.PsqlFile(ctx, db, path, vars); err != nil {
		return fmt.Errorf("creating TPC-C-like tables of size %+v: %w", size, err)
	}
	return nil
}

// WriteTPCCScripts writes the five TPC-C-like transactions as pgbench scripts into dir and
// returns them in TPCCTransactions' order with TPC-C's mix as weights: new-order 45, payment 43,
// order-status, delivery and stock-level 4 each. Each script is one transaction. They need the
// database's size as pgbench variables: pass TPCCSize.Vars as Pgbench.Vars.
func WriteTPCCScripts(dir string) ([]Script, error) {
	lines := make([]int, TPCCNewOrderLines)
	for i := range lines {
		lines[i] = i + 1
	}
	var scripts []Script
	for i, name := range TPCCTransactions {
		text, err := tpccFiles.ReadFile("tpcc/" + name + ".sql")
		if err != nil {
			return nil, fmt.Errorf("TPC-C-like script %q: %w", name, err)
		}
		tmpl, err := template.New(name).Parse(string(text))
		if err != nil {
			return nil, fmt.Errorf("TPC-C-like script %q: %w", name, err)
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, struct{ Lines []int }{lines}); err != nil {
			return nil, fmt.Errorf("TPC-C-like script %q: %w", name, err)
		}
		path := filepath.Join(dir, name+".sql")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return nil, err
		}
		scripts = append(scripts, Script{Name: name, Path: path, Weight: tpccWeights[i]})
	}
	return scripts, nil
}
