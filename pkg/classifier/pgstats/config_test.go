package pgstats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const secret = "s3cr3t-pw"

func TestConnConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ConnConfig
		want string // prefix of the error: the field
	}{
		{"empty dsn", ConnConfig{}, "dsn: must not be empty"},
		{"unparsable url", ConnConfig{DSN: "postgres://u:" + secret + "@host:notaport/db"}, "dsn:"},
		{"unparsable key=value", ConnConfig{DSN: "host=h password=" + secret + " port=x dbname=d"}, "dsn:"},
		{"no database", ConnConfig{DSN: "postgres://u:" + secret + "@127.0.0.1:5432"}, "dsn: names no database"},
		{"negative statement timeout", ConnConfig{DSN: "postgres://u@h/db", StatementTimeout: -time.Second}, "statementTimeout:"},
		{"negative connect timeout", ConnConfig{DSN: "postgres://u@h/db", ConnectTimeout: -time.Second}, "connectTimeout:"},
		{"CA that is no PEM", ConnConfig{DSN: "postgres://u@h/db", CAPEM: []byte("not a certificate")}, "caPEM: no PEM certificate found"},
		{"CA with sslmode=disable", ConnConfig{DSN: "postgres://u@h/db?sslmode=disable", CAPEM: testCA(t)}, "dsn: sslmode=disable contradicts"},
		{"unknown sslMode", ConnConfig{DSN: "postgres://u@h/db", SSLMode: "prefer"}, `sslMode: "prefer" is not supported`},
		{"verify-full without a CA", ConnConfig{DSN: "postgres://u@h/db", SSLMode: SSLModeVerifyFull}, "caPEM: sslMode verify-full needs a CA"},
		{"require with a CA", ConnConfig{DSN: "postgres://u@h/db", SSLMode: SSLModeRequire, CAPEM: testCA(t)}, "caPEM: a CA is given, yet sslMode require"},
		{"disable with a CA", ConnConfig{DSN: "postgres://u@h/db", SSLMode: SSLModeDisable, CAPEM: testCA(t)}, "caPEM: a CA is given, yet sslMode disable"},
		{"DSN sslmode other than sslMode", ConnConfig{DSN: "postgres://u@h/db?sslmode=prefer", SSLMode: SSLModeRequire}, "dsn: sslmode=prefer contradicts sslMode require"},
		{"restricted keys refuse sslrootcert", ConnConfig{DSN: "host=h dbname=d sslrootcert=/etc/passwd password=" + secret, RestrictKeys: true}, "dsn:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.pgxConfig()
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q, want prefix %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

func TestConnConfigSettings(t *testing.T) {
	pc, err := ConnConfig{DSN: "postgres://mon:" + secret + "@127.0.0.1:5433/app?sslmode=disable", Password: "other", StatementTimeout: 3 * time.Second}.pgxConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"application_name":              DefaultApplicationName,
		"statement_timeout":             "3000",
		"default_transaction_read_only": "on",
		"TimeZone":                      "UTC",
	}
	if diff := cmp.Diff(want, pc.RuntimeParams); diff != "" {
		t.Errorf("RuntimeParams (-want,+got):\n%s", diff)
	}
	if pc.Password != "other" || pc.ConnectTimeout != DefaultConnectTimeout || pc.TLSConfig != nil {
		t.Errorf("Password %q, ConnectTimeout %v, TLS %v: want the override, the default, no TLS", pc.Password, pc.ConnectTimeout, pc.TLSConfig)
	}
	if got := (ConnConfig{DSN: "postgres://mon:" + secret + "@127.0.0.1:5433/app"}).String(); got != "mon@127.0.0.1:5433/app" {
		t.Errorf("String() = %q", got)
	}
}

func TestConnConfigVerifyFull(t *testing.T) {
	ca := testCA(t)
	for _, tc := range []struct {
		name, dsn, serverName, wantName string
	}{
		{"the DSN's host", "postgres://u@db.example:5432/app", "", "db.example"},
		{"sslmode=prefer loses its plaintext fallback", "postgres://u@10.1.2.3:5432/app?sslmode=prefer", "app-rw.ns.svc", "app-rw.ns.svc"},
		{"key=value", "host=127.0.0.1 dbname=app user=u sslmode=require", "app-rw", "app-rw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := ConnConfig{DSN: tc.dsn, CAPEM: ca, ServerName: tc.serverName}.pgxConfig()
			if err != nil {
				t.Fatal(err)
			}
			if pc.TLSConfig == nil || pc.TLSConfig.InsecureSkipVerify || pc.TLSConfig.RootCAs == nil || pc.TLSConfig.ServerName != tc.wantName {
				t.Fatalf("TLS config %+v: want verification against the CA for %q", pc.TLSConfig, tc.wantName)
			}
			for _, fb := range pc.Fallbacks {
				if fb.TLSConfig == nil {
					t.Errorf("a plaintext fallback to %s:%d remains", fb.Host, fb.Port)
				}
			}
		})
	}
}

// TestConnConfigSSLMode: each enforced mode gives every host exactly its own kind of connection,
// the first and any other host alike: no plaintext attempt in require, no TLS in disable, no
// unverified TLS in verify-full.
func TestConnConfigSSLMode(t *testing.T) {
	ca := testCA(t)
	for _, tc := range []struct {
		name string
		cfg  ConnConfig
		// want says whether a TLS config is acceptable; it must hold for the host and every fallback.
		want func(*tls.Config) bool
	}{
		{"verify-full", ConnConfig{DSN: "postgres://u@10.1.2.3:5432/app", SSLMode: SSLModeVerifyFull, CAPEM: ca, ServerName: "app-rw"},
			func(c *tls.Config) bool {
				return c != nil && !c.InsecureSkipVerify && c.RootCAs != nil && c.ServerName == "app-rw"
			}},
		{"require", ConnConfig{DSN: "postgres://u@10.1.2.3:5432/app", SSLMode: SSLModeRequire},
			func(c *tls.Config) bool { return c != nil && c.MinVersion == tls.VersionTLS12 }},
		{"require, the DSN agreeing", ConnConfig{DSN: "host=10.1.2.3,10.1.2.4 dbname=app user=u sslmode=require", SSLMode: SSLModeRequire},
			func(c *tls.Config) bool { return c != nil }},
		{"disable", ConnConfig{DSN: "postgres://u@10.1.2.3:5432/app", SSLMode: SSLModeDisable},
			func(c *tls.Config) bool { return c == nil }},
		{"disable, two hosts", ConnConfig{DSN: "host=10.1.2.3,10.1.2.4 dbname=app user=u", SSLMode: SSLModeDisable},
			func(c *tls.Config) bool { return c == nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := tc.cfg.pgxConfig()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(pc.TLSConfig) {
				t.Errorf("%s:%d: TLS config %+v", pc.Host, pc.Port, pc.TLSConfig)
			}
			seen := map[string]bool{pc.Host: true}
			for _, fb := range pc.Fallbacks {
				if seen[fb.Host] {
					t.Errorf("%s:%d tried twice: a fallback of another kind", fb.Host, fb.Port)
				}
				seen[fb.Host] = true
				if !tc.want(fb.TLSConfig) {
					t.Errorf("fallback %s:%d: TLS config %+v", fb.Host, fb.Port, fb.TLSConfig)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ msg, dsn string }{
		{"cannot parse postgres://u:" + secret + "@h/db", "postgres://u:" + secret + "@h/db"},
		{"bad: password=" + secret + " port=x", "host=h password=" + secret + " port=x"},
		{"bad: password='" + secret + "'", "host=h password='" + secret + "'"},
		{"bad: " + secret, "postgres://u@h/db?password=" + secret + "&sslmode=disable"},
	} {
		if got := redact(tc.msg, tc.dsn); strings.Contains(got, secret) {
			t.Errorf("redact(%q) = %q still holds the password", tc.msg, got)
		}
	}
	if got := redact("password is "+secret, "postgres://u@h/db", secret); strings.Contains(got, secret) {
		t.Errorf("redact with an extra secret = %q", got)
	}
}

func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
