package pgserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tpccTiny loads in about a second: 200 items, 30 customers per district, 2 warehouses.
var tpccTiny = TPCCSize{Warehouses: 2, Items: 200, CustomersPerDistrict: 30}

// TestTPCC loads tiny TPC-C-like tables, checks their row counts against the size, and runs the
// TPC-C-like mix through pgbench for 10 s with a per-transaction log.
func TestTPCC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := StartT(t)
	if err := s.CreateDatabase(ctx, "tpcc"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTPCC(ctx, "tpcc", tpccTiny); err != nil {
		t.Fatal(err)
	}

	w, i, c := tpccTiny.Warehouses, tpccTiny.Items, tpccTiny.CustomersPerDistrict
	districts := w * TPCCDistrictsPerWarehouse
	undelivered := districts * (c * 3 / 10) // TPC-C: the last 900 of 3000
	want := fmt.Sprintf("warehouse %d district %d customer %d history %d orders %d new_order %d item %d stock %d lines in [5,15] per order true",
		w, districts, districts*c, districts*c, districts*c, undelivered, i, w*i)
	got, err := s.Psql(ctx, "tpcc", `SELECT 'warehouse ' || (SELECT count(*) FROM warehouse) || ' district ' || (SELECT count(*) FROM district)
  || ' customer ' || (SELECT count(*) FROM customer) || ' history ' || (SELECT count(*) FROM history)
  || ' orders ' || (SELECT count(*) FROM orders) || ' new_order ' || (SELECT count(*) FROM new_order)
  || ' item ' || (SELECT count(*) FROM item) || ' stock ' || (SELECT count(*) FROM stock)
  || ' lines in [5,15] per order ' || (SELECT bool_and(n BETWEEN 5 AND 15 AND n = o_ol_cnt)
     FROM orders, LATERAL (SELECT count(*) AS n FROM order_line WHERE ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id) l)`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want,+got):\n%s", diff)
	}
	// Every district's next order follows its loaded ones, and every last name the scripts draw
	// exists in every district.
	got, err = s.Psql(ctx, "tpcc", fmt.Sprintf(`SELECT (SELECT bool_and(d_next_o_id = %d) FROM district) || ' ' ||
  (SELECT count(*) FROM (SELECT DISTINCT c_w_id, c_d_id, c_last FROM customer) n)`, c+1))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fmt.Sprintf("true %d", districts*min(c, 1000)), got); diff != "" {
		t.Errorf("next order ids and last names per district (-want,+got):\n%s", diff)
	}

	dir := t.TempDir()
	scripts, err := WriteTPCCScripts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var weights []int
	for _, sc := range scripts {
		names, weights = append(names, sc.Name), append(weights, sc.Weight)
	}
	if diff := cmp.Diff(TPCCTransactions, names); diff != "" {
		t.Errorf("script names (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{45, 43, 4, 4, 4}, weights); diff != "" {
		t.Errorf("script weights (-want,+got):\n%s", diff)
	}
	newOrder, err := os.ReadFile(scripts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(newOrder), "INSERT INTO order_line"); n != TPCCNewOrderLines {
		t.Errorf("new-order inserts %d order lines, want %d:\n%s", n, TPCCNewOrderLines, newOrder)
	}

	prefix := filepath.Join(dir, "tpcc")
	load, err := s.StartPgbench(ctx, Pgbench{DB: "tpcc", Scripts: scripts, Clients: 2, Jobs: 2, Duration: 10 * time.Second,
		NoVacuum: true, Vars: tpccTiny.Vars(), LogPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := load.Wait(); err != nil {
		t.Fatal(err)
	}
	out := load.Output()
	processed := regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`).FindStringSubmatch(out)
	failed := regexp.MustCompile(`number of failed transactions: ([0-9]+)`).FindStringSubmatch(out)
	if processed == nil || failed == nil {
		t.Fatalf("pgbench output lacks its transaction counts:\n%s", out)
	}
	if failed[1] != "0" {
		t.Errorf("pgbench reports %s failed transactions:\n%s", failed[1], out)
	}
	txs, err := ReadTransactionLog(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(len(txs)) != processed[1] {
		t.Errorf("log has %d transactions, pgbench processed %s", len(txs), processed[1])
	}
	perScript := make([]int, len(TPCCTransactions))
	for _, tx := range txs {
		if tx.Failed || tx.Skipped {
			t.Errorf("failed or skipped transaction in the log: %+v", tx)
		}
		if tx.Script < 0 || tx.Script >= len(perScript) {
			t.Fatalf("transaction of script %d; there are %d scripts", tx.Script, len(perScript))
		}
		perScript[tx.Script]++
	}
	if slices.Contains(perScript, 0) {
		t.Errorf("transactions per script %v (%v): some script never ran", perScript, TPCCTransactions)
	}
	first, last := txs[0].At, txs[0].At
	for _, tx := range txs {
		first, last = minTime(first, tx.At), maxTime(last, tx.At)
	}
	st := SummarizeTransactions(txs, first, last.Add(time.Microsecond), slices.Index(TPCCTransactions, "new-order"))
	if st.Transactions != len(txs) || st.Failed != 0 || st.Skipped != 0 {
		t.Errorf("summary counts %+v; the log has %d transactions, none failed", st, len(txs))
	}
	if !(0 < st.P50 && st.P50 <= st.P95 && st.P95 <= st.P99) {
		t.Errorf("latency percentiles not ordered: p50 %v p95 %v p99 %v", st.P50, st.P95, st.P99)
	}
	if st.NewOrderPerMinute <= 0 || st.TPS <= 0 {
		t.Errorf("summary %+v: no throughput", st)
	}
	t.Logf("TPC-C-like mix on %+v, 2 clients, 10 s: %+v, per script %v", tpccTiny, st, perScript)

	// The new orders went in with their lines and stock updates.
	got, err = s.Psql(ctx, "tpcc", fmt.Sprintf(`SELECT (SELECT count(*) FROM orders) - %d || ' ' ||
  (SELECT count(*) FROM order_line WHERE ol_o_id > %d AND ol_number > 0) / %d`, districts*c, c, TPCCNewOrderLines))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fmt.Sprintf("%[1]d %[1]d", perScript[0]), got); diff != "" {
		t.Errorf("new orders and their lines / %d (-want,+got):\n%s", TPCCNewOrderLines, diff)
	}

	if err := s.CreateTPCC(ctx, "tpcc", TPCCSize{}); err == nil || !strings.Contains(err.Error(), "Warehouses must be at least 1") {
		t.Errorf("CreateTPCC of an empty size: error %v", err)
	}
}

func TestTPCCSizeVars(t *testing.T) {
	for _, tc := range []struct {
		size TPCCSize
		want map[string]string
	}{
		{TPCCSize{Warehouses: 1}, map[string]string{"warehouses": "1", "items": "100000", "customers": "3000"}},
		{TPCCSmall, map[string]string{"warehouses": "1", "items": "10000", "customers": "300"}},
		{TPCCSize{Warehouses: 3, Items: 7, CustomersPerDistrict: 5}, map[string]string{"warehouses": "3", "items": "7", "customers": "5"}},
	} {
		t.Run(fmt.Sprintf("%+v", tc.size), func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.size.Vars()); diff != "" {
				t.Errorf("Vars (-want,+got):\n%s", diff)
			}
		})
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
