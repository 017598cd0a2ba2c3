package classifier_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// TestSampler checks what the sampler reads and that it leaves no trace but its own statements.
func TestSampler(t *testing.T) {
	s := sharedServer(t)
	_, ctx := ktesting.NewTestContext(t)

	resets := func() string {
		out, err := s.Psql(ctx, appDB, "SELECT coalesce(i.stats_reset::text, '') || ' ' || coalesce(d.stats_reset::text, 'null') "+
			"FROM pg_stat_statements_info i, pg_stat_database d WHERE d.datname = current_database()")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := resets()

	sampler, err := pgstats.NewSampler(pgstats.ConnConfig{DSN: s.MonitorDSN(appDB)}, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer sampler.Close(ctx)
	const samples = 5
	var ownIDs []int64
	for i := 0; i < samples; i++ {
		snap, err := sampler.Sample(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Statements == nil || len(snap.Statements.Entries) == 0 || snap.Statements.Info == nil || snap.Database.ActiveTime == nil || !snap.ActivityVisible {
			t.Fatalf("snapshot lacks PostgreSQL 15's parts: %+v", snap)
		}
		ownIDs = snap.Own.QueryIDs
	}
	info := sampler.Info()
	if info.VersionNum/10000 != s.Version/10000 || info.Database != appDB || info.User != pgserver.MonitorRole ||
		!info.ReadAllStats || !info.StatStatementsUsable || info.StatStatements == "" {
		t.Errorf("server info %+v: want PostgreSQL %d, database %s, role %s with pg_read_all_stats, pg_stat_statements usable",
			info, s.Version/10000, appDB, pgserver.MonitorRole)
	}
	if len(ownIDs) != 1 {
		t.Fatalf("own query IDs %v: want the sampling statement's", ownIDs)
	}
	// The excluded query ID is the sampler's own statement, marked, and called once per sample.
	out, err := s.Psql(ctx, appDB, "SELECT calls || ' ' || left(query, "+strconv.Itoa(len(pgstats.Marker))+") "+
		"FROM pg_stat_statements WHERE queryid = "+strconv.FormatInt(ownIDs[0], 10))
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(samples-1) + " " + pgstats.Marker; out != want && out != strconv.Itoa(samples)+" "+pgstats.Marker {
		t.Errorf("pg_stat_statements for the own query ID: %q, want %q (or one more)", out, want)
	}
	if after := resets(); after != before {
		t.Errorf("statistics were reset while sampling: %q, then %q", before, after)
	}
}

// TestSamplerWithoutExtensionOrPrivilege: a database without pg_stat_statements installed, and a
// role without pg_read_all_stats, still give snapshots, with what they lack said.
func TestSamplerWithoutExtensionOrPrivilege(t *testing.T) {
	s := sharedServer(t)
	_, ctx := ktesting.NewTestContext(t)
	if _, err := s.Psql(ctx, pgserver.DefaultDB, "CREATE DATABASE noext"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Psql(ctx, pgserver.DefaultDB, "CREATE ROLE plain LOGIN PASSWORD 'plain-pw'"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dsn, reason string
		readAll           bool
	}{
		{"no extension", s.MonitorDSN("noext"), "extension pg_stat_statements not installed in database noext", true},
		{"no pg_read_all_stats", s.DSN("plain", "plain-pw", appDB), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sampler, err := pgstats.NewSampler(pgstats.ConnConfig{DSN: tc.dsn}, clock.RealClock{})
			if err != nil {
				t.Fatal(err)
			}
			defer sampler.Close(ctx)
			snap, err := sampler.Sample(ctx)
			if err != nil {
				t.Fatal(err)
			}
			info := sampler.Info()
			if info.StatStatementsReason != tc.reason || info.ReadAllStats != tc.readAll || snap.ActivityVisible != tc.readAll {
				t.Errorf("info %+v, activity visible %v: want reason %q, pg_read_all_stats %v", info, snap.ActivityVisible, tc.reason, tc.readAll)
			}
			if (snap.Statements == nil) != (tc.reason != "") {
				t.Errorf("statements %v with reason %q", snap.Statements, tc.reason)
			}
		})
	}
}

// TestSamplerConnectErrors: a wrong password is reported without the password.
func TestSamplerConnectErrors(t *testing.T) {
	s := sharedServer(t)
	_, ctx := ktesting.NewTestContext(t)
	const wrong = "not-the-password-42"
	sampler, err := pgstats.NewSampler(pgstats.ConnConfig{DSN: s.DSN(pgserver.MonitorRole, wrong, appDB)}, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sampler.Sample(ctx)
	if err == nil || strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("error %v: want a password failure that does not show the password", err)
	}
}

// TestSamplerVerifyFull: with a CA, the sampler uses TLS and verifies the certificate's chain
// and name, as for an operator's CA whose certificates name the service rather than the pod IP.
func TestSamplerVerifyFull(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	s := pgserver.StartT(t, pgserver.WithListenAddress("127.45.1.7"), pgserver.WithTLS("app-rw.db.svc"))
	other := pgserver.StartT(t, pgserver.WithTLS())
	for _, tc := range []struct {
		name, serverName string
		ca               []byte
		wantErr          string
	}{
		{name: "service name, dialling the pod IP", serverName: "app-rw.db.svc", ca: s.CAPEM()},
		{name: "IP address in the certificate", ca: s.CAPEM()},
		{name: "a name the certificate lacks", serverName: "other.db.svc", ca: s.CAPEM(), wantErr: "certificate is valid for"},
		{name: "another CA", ca: other.CAPEM(), wantErr: "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sampler, err := pgstats.NewSampler(pgstats.ConnConfig{DSN: s.MonitorDSN(pgserver.DefaultDB), CAPEM: tc.ca, ServerName: tc.serverName}, clock.RealClock{})
			if err != nil {
				t.Fatal(err)
			}
			defer sampler.Close(ctx)
			_, err = sampler.Sample(ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The sampler's session is encrypted.
			got, err := s.Psql(ctx, pgserver.DefaultDB, "SELECT string_agg(s.ssl::text, ',') FROM pg_stat_ssl s "+
				"JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '"+pgstats.DefaultApplicationName+"'")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("true", got); diff != "" {
				t.Errorf("TLS of the sampler's session (-want,+got):\n%s", diff)
			}
		})
	}
}
