package controller

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
)

// targetAnnotations are the annotations ResolveTarget reads, in the order of the fuzz
// arguments; bit i of the fuzz's mask says whether the i-th is on the pod.
var targetAnnotations = []string{
	apis.AnnotationPostgresPort,
	apis.AnnotationPostgresDatabase,
	apis.AnnotationPostgresCredentials,
	apis.AnnotationPostgresCASecret,
	apis.AnnotationPostgresServerName,
	apis.AnnotationPostgresSSLMode,
}

var annotationInError = regexp.MustCompile(`^annotation (` + regexp.QuoteMeta(apis.Prefix) + `[a-z-]+)=`)

// FuzzResolveTarget feeds arbitrary values of the likewise.dev/postgres-* annotations, and an
// arbitrary pod IP, through ResolveTarget: it never panics, an error names the annotation at
// fault (or status.podIP) with its value, and a target it returns is one pgstats can dial.
func FuzzResolveTarget(f *testing.F) {
	f.Add("10.0.0.7", uint8(0), "", "", "", "", "", "", false)
	f.Add("10.0.0.7", uint8(0b011111), "5433", "app", "pg-monitor", "pg-ca", "app-rw.db.svc", "", true)
	f.Add("fd00::7", uint8(0b010001), " 6432 ", "", "", "", "10.0.0.7", "", false)
	f.Add("", uint8(0), "", "", "", "", "", "", false)
	f.Add("10.0.0.7", uint8(0b000001), "65536", "", "", "", "", "", false)
	f.Add("10.0.0.7", uint8(0b000001), "0", "", "", "", "", "", false)
	f.Add("10.0.0.7", uint8(0b000010), "", " ", "", "", "", "", false)
	f.Add("10.0.0.7", uint8(0b000010), "", "a/b?c#d%", "", "", "", "", false)
	f.Add("0.0.0.0", uint8(0b000010), "", "\x00", "", "", "", "", false)
	f.Add("10.0.0.7", uint8(0b001100), "", "", "Bad_Name", "", "", "", false)
	f.Add("10.0.0.7", uint8(0b010000), "", "", "", "", "not a name", "", false)
	// likewise.dev/postgres-sslmode: the opt-ins, the default said out loud, and libpq's modes
	// that are refused (fallbacks, or no name check), in any case and with spaces.
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", "require", false)
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", "disable", false)
	f.Add("10.0.0.7", uint8(0b111000), "", "", "pg-monitor", "pg-ca", "", "verify-full", true)
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", "prefer", false)
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", "allow", false)
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", "verify-ca", false)
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", "Require", false)
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", " disable", false)
	f.Add("10.0.0.7", uint8(0b100000), "", "", "", "", "", "", false)
	f.Fuzz(func(t *testing.T, podIP string, mask uint8, port, database, credentials, caSecret, serverName, sslMode string, preset bool) {
		pod := newPod("app-1").ip(podIP).pod
		pod.Labels["cnpg.io/cluster"] = "app"
		for i, v := range []string{port, database, credentials, caSecret, serverName, sslMode} {
			if mask&(1<<i) != 0 {
				pod.Annotations[targetAnnotations[i]] = v
			}
		}
		cfg := testConfig()
		if preset {
			p, err := LookupPreset("cnpg")
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultServerName = p.ServerName
		}
		got, err := ResolveTarget(pod, cfg)
		if err != nil {
			msg := err.Error()
			if strings.HasPrefix(msg, "pod has no valid IP (status.podIP ") {
				return
			}
			m := annotationInError.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("error %q names neither an annotation nor status.podIP", msg)
			}
			v, ok := pod.Annotations[m[1]]
			if !ok {
				t.Fatalf("error %q names annotation %s, which the pod does not have", msg, m[1])
			}
			if want := "annotation " + m[1] + "=" + strconv.Quote(v) + ": "; !strings.HasPrefix(msg, want) {
				t.Fatalf("error %q does not start with %q", msg, want)
			}
			return
		}
		if got.Port < 1 || got.Port > 65535 {
			t.Errorf("port %d accepted", got.Port)
		}
		for _, name := range []string{got.CredentialsSecret, got.CASecret} {
			if name != "" && len(validation.IsDNS1123Subdomain(name)) > 0 {
				t.Errorf("Secret name %q accepted", name)
			}
		}
		if !slices.Contains(pgstats.SSLModes, got.SSLMode) {
			t.Fatalf("sslmode %q accepted", got.SSLMode)
		}
		if v, ok := pod.Annotations[apis.AnnotationPostgresSSLMode]; got.SSLModeOptIn() && (!ok || v != string(got.SSLMode)) {
			t.Fatalf("sslmode %s without the pod's opt-in (annotation %q)", got.SSLMode, v)
		}
		// What pgstats is given: a URL that reads back as the role and the database asked for,
		// with the target's sslmode. A CA is given exactly when verify-full needs one.
		creds := Credentials{User: "monitor", Password: "pw"}
		if !got.SSLModeOptIn() {
			creds.CAPEM = testCA(t)
		}
		cc, err := ConnConfig(got, creds, DefaultDatabase, time.Second)
		if err != nil {
			t.Fatalf("target %+v: %v", got, err)
		}
		if _, err := pgstats.NewSampler(cc, nil); err != nil {
			t.Fatalf("target %+v: pgstats refuses %+v: %v", got, cc, err)
		}
		u, err := url.Parse(cc.DSN)
		if err != nil {
			t.Fatalf("target %+v: DSN %q does not parse: %v", got, cc.DSN, err)
		}
		wantDB := got.Database
		if wantDB == "" {
			wantDB = DefaultDatabase
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != wantDB {
			t.Errorf("target %+v: DSN %q names database %q, want %q", got, cc.DSN, db, wantDB)
		}
		if u.Port() == "" || u.Hostname() != got.Host {
			t.Errorf("target %+v: DSN %q has host %q port %q", got, cc.DSN, u.Hostname(), u.Port())
		}
		if mode := u.Query().Get("sslmode"); mode != string(got.SSLMode) || cc.SSLMode != got.SSLMode {
			t.Errorf("target %+v: DSN %q and SSLMode %q, want sslmode %s", got, cc.DSN, cc.SSLMode, got.SSLMode)
		}
	})
}

// CredentialsFrom's fuzz: which keys the two Secrets have, bit by bit.
const (
	hasUsername = 1 << iota
	hasUser
	hasPassword
	hasDatabase
	hasCA
	useCASecret
	caSecretRead
	caSecretHasCA
)

// FuzzCredentialsFrom feeds arbitrary Secret data through CredentialsFrom and ConnConfig: no
// panic, an error names the Secret and the key and never depends on the password's value, and
// accepted credentials reach the DSN unchanged (the password apart, which never does).
func FuzzCredentialsFrom(f *testing.F) {
	ca := string(testCA(f))
	f.Add(uint8(hasUsername|hasPassword), "monitor", "", "s3cret", "", "")
	f.Add(uint8(hasUser|hasPassword|hasDatabase|hasCA), "", "monitor", "s3cret", "app", ca)
	f.Add(uint8(hasUsername|hasPassword|useCASecret|caSecretRead|caSecretHasCA), "monitor", "", "s3cret", "", ca)
	f.Add(uint8(hasUsername|hasPassword|useCASecret|caSecretRead), "monitor", "", "s3cret", "", ca)
	f.Add(uint8(hasUsername|hasPassword|useCASecret), "monitor", "", "s3cret", "", ca)
	f.Add(uint8(hasUsername|hasPassword|hasCA), "monitor", "", "s3cret", "", "s3cret-looking")
	f.Add(uint8(hasPassword), "", "", "s3cret", "", "")
	f.Add(uint8(hasUsername), "monitor", "", "", "", "")
	f.Add(uint8(hasUsername|hasPassword|hasDatabase), "a@b:c/d", "", "p@ss:w/rd", "db/with?odd#chars", "")
	f.Add(uint8(hasUsername|hasPassword|hasDatabase), "mon\x00itor", "", "s3cret", "app", "")
	f.Add(uint8(hasUser|hasPassword|hasDatabase), "", "monitor", "s3\x00cret", "app", "")
	f.Add(uint8(hasUsername|hasPassword|hasDatabase), "monitor", "", "s3cret", "\x00", "")
	f.Add(uint8(hasUsername|hasPassword|hasCA), "monitor", "", "s3cret", "", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	f.Fuzz(func(t *testing.T, mask uint8, username, user, password, database, caPEM string) {
		target := Target{Host: "10.0.0.7", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor"}
		build := func(password string) (*corev1.Secret, *corev1.Secret) {
			data := map[string]string{}
			for bit, kv := range map[int][2]string{
				hasUsername: {SecretKeyUsername, username}, hasUser: {SecretKeyUser, user},
				hasPassword: {SecretKeyPassword, password}, hasDatabase: {SecretKeyDatabase, database}, hasCA: {SecretKeyCA, caPEM},
			} {
				if int(mask)&bit != 0 {
					data[kv[0]] = kv[1]
				}
			}
			creds := secret("likewise-monitor", "1", data)
			var caSecret *corev1.Secret
			if mask&caSecretRead != 0 {
				d := map[string]string{"tls.key": password}
				if mask&caSecretHasCA != 0 {
					d[SecretKeyCA] = caPEM
				}
				caSecret = secret("db-ca", "2", d)
			}
			return creds, caSecret
		}
		if mask&useCASecret != 0 {
			target.CASecret = "db-ca"
		}
		creds, caSecret := build(password)
		got, err := CredentialsFrom(target, creds, caSecret)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "secret db/likewise-monitor") && !strings.HasPrefix(msg, "secret db/db-ca") {
				t.Fatalf("error %q does not name the Secret", msg)
			}
			if !strings.Contains(msg, `"`+SecretKeyUsername+`"`) && !strings.Contains(msg, `"`+SecretKeyUser+`"`) &&
				!strings.Contains(msg, `"`+SecretKeyPassword+`"`) && !strings.Contains(msg, `"`+SecretKeyDatabase+`"`) &&
				!strings.Contains(msg, `"`+SecretKeyCA+`"`) && !strings.HasSuffix(msg, " not read") {
				t.Fatalf("error %q names no key", msg)
			}
			// The password's value never shows: another one, as empty and as NUL-free as it,
			// gives the same error.
			other := "x"
			switch {
			case password == "":
				other = ""
			case strings.ContainsRune(password, 0):
				other = "x\x00"
			}
			creds2, ca2 := build(other)
			if _, err2 := CredentialsFrom(target, creds2, ca2); err2 == nil || err2.Error() != msg {
				t.Fatalf("the error depends on the password's value: %q, then %v", msg, err2)
			}
			return
		}
		if got.User == "" || got.Password == "" {
			t.Fatalf("credentials without a user or password accepted: %+v", got)
		}
		// verify-full (the default) without a CA is refused, saying so; require with a CA too.
		target.SSLMode = pgstats.SSLModeVerifyFull
		cc, err := ConnConfig(target, got, DefaultDatabase, time.Second)
		if len(got.CAPEM) == 0 {
			if !errors.Is(err, ErrNoCA) {
				t.Fatalf("verify-full without a CA: error %v, want ErrNoCA", err)
			}
			target.SSLMode = pgstats.SSLModeRequire
			cc, err = ConnConfig(target, got, DefaultDatabase, time.Second)
		} else if _, err := ConnConfig(Target{Host: target.Host, Port: target.Port, SSLMode: pgstats.SSLModeRequire}, got, DefaultDatabase, time.Second); err == nil {
			t.Fatalf("require with a CA accepted")
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pgstats.NewSampler(cc, nil); err != nil {
			t.Fatalf("pgstats refuses DSN %q: %v", cc.DSN, err)
		}
		u, err := url.Parse(cc.DSN)
		if err != nil {
			t.Fatalf("DSN %q does not parse: %v", cc.DSN, err)
		}
		if u.User.Username() != got.User {
			t.Errorf("DSN %q has user %q, want %q", cc.DSN, u.User.Username(), got.User)
		}
		if _, set := u.User.Password(); set {
			t.Errorf("DSN %q carries a password", cc.DSN)
		}
		wantDB := got.Database
		if wantDB == "" {
			wantDB = DefaultDatabase
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != wantDB {
			t.Errorf("DSN %q names database %q, want %q", cc.DSN, db, wantDB)
		}
		if mode := u.Query().Get("sslmode"); len(got.CAPEM) > 0 && mode != "verify-full" {
			t.Errorf("DSN %q: sslmode %q with a CA of %d bytes", cc.DSN, mode, len(got.CAPEM))
		}
	})
}
