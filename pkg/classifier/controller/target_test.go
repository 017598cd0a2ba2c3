package controller

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
)

func testConfig() Config {
	return Config{
		Selector:                 labels.SelectorFromSet(labels.Set{apis.LabelClassify: apis.ClassifyEnabled}),
		DefaultCredentialsSecret: DefaultCredentialsSecret,
		DefaultDatabase:          DefaultDatabase,
		DefaultPort:              DefaultPort,
		Interval:                 DefaultInterval,
		QueryTimeout:             DefaultQueryTimeout,
		MaxBackoff:               DefaultMaxBackoff,
		Workers:                  DefaultWorkers,
	}
}

func (b *podBuilder) ip(ip string) *podBuilder { b.pod.Status.PodIP = ip; return b }

func TestResolveTarget(t *testing.T) {
	cnpg, err := LookupPreset("cnpg")
	if err != nil {
		t.Fatal(err)
	}
	withServerName := testConfig()
	withServerName.DefaultServerName = cnpg.ServerName
	cnpgPod := newPod("app-1").ip("127.1.2.3")
	cnpgPod.pod.Labels["cnpg.io/cluster"] = "app"

	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		cfg     Config
		want    Target
		wantErr string
	}{
		{
			name: "defaults",
			pod:  newPod("p").ip("127.1.2.3").pod,
			want: Target{Host: "127.1.2.3", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor", SSLMode: pgstats.SSLModeVerifyFull},
		},
		{
			name: "every annotation",
			pod: newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresPort, "6432").
				annotate(apis.AnnotationPostgresDatabase, "app").
				annotate(apis.AnnotationPostgresCredentials, "app-monitor").
				annotate(apis.AnnotationPostgresCASecret, "app-ca").
				annotate(apis.AnnotationPostgresServerName, "app-rw.db.svc").pod,
			want: Target{Host: "127.1.2.3", Port: 6432, Database: "app", Namespace: "db", CredentialsSecret: "app-monitor",
				CASecret: "app-ca", ServerName: "app-rw.db.svc", SSLMode: pgstats.SSLModeVerifyFull},
		},
		{
			name: "sslmode opt-in: require",
			pod:  newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresSSLMode, "require").pod,
			want: Target{Host: "127.1.2.3", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor", SSLMode: pgstats.SSLModeRequire},
		},
		{
			name: "sslmode opt-in: disable",
			pod:  newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresSSLMode, "disable").pod,
			want: Target{Host: "127.1.2.3", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor", SSLMode: pgstats.SSLModeDisable},
		},
		{
			name: "sslmode verify-full said out loud",
			pod:  newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresSSLMode, "verify-full").pod,
			want: Target{Host: "127.1.2.3", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor", SSLMode: pgstats.SSLModeVerifyFull},
		},
		{
			name: "preset server name",
			pod:  cnpgPod.pod,
			cfg:  withServerName,
			want: Target{Host: "127.1.2.3", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor", ServerName: "app-rw", SSLMode: pgstats.SSLModeVerifyFull},
		},
		{
			name: "annotation beats the preset's server name",
			pod:  cnpgPod.pod.DeepCopy(),
			cfg:  withServerName,
		},
		{
			name: "IPv6 pod",
			pod:  newPod("p").ip("::1").pod,
			want: Target{Host: "::1", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor", SSLMode: pgstats.SSLModeVerifyFull},
		},
		{name: "no IP", pod: newPod("p").pod, wantErr: `pod has no valid IP (status.podIP "")`},
		{
			name:    "bad port",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresPort, "postgres").pod,
			wantErr: `annotation likewise.dev/postgres-port="postgres": must be a port number from 1 to 65535`,
		},
		{
			name:    "port out of range",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresPort, "70000").pod,
			wantErr: `annotation likewise.dev/postgres-port="70000": must be a port number from 1 to 65535`,
		},
		{
			name:    "port zero",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresPort, "0").pod,
			wantErr: `annotation likewise.dev/postgres-port="0": must be a port number from 1 to 65535`,
		},
		{
			name:    "empty database",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresDatabase, " ").pod,
			wantErr: `annotation likewise.dev/postgres-database=" ": must be a database name of 1 to 63 characters`,
		},
		{
			name:    "bad secret name",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresCredentials, "../etc").pod,
			wantErr: `annotation likewise.dev/postgres-credentials-secret="../etc": not a Secret name`,
		},
		{
			name:    "sslmode prefer: a fallback, refused",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresSSLMode, "prefer").pod,
			wantErr: `annotation likewise.dev/postgres-sslmode="prefer": supported values: verify-full, require, disable`,
		},
		{
			name:    "sslmode in capitals",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresSSLMode, "Disable").pod,
			wantErr: `annotation likewise.dev/postgres-sslmode="Disable": supported values: verify-full, require, disable`,
		},
		{
			name:    "bad server name",
			pod:     newPod("p").ip("127.1.2.3").annotate(apis.AnnotationPostgresServerName, "a b").pod,
			wantErr: `annotation likewise.dev/postgres-server-name="a b": not a DNS name or IP address`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Selector == nil {
				cfg = testConfig()
			}
			if tc.name == "annotation beats the preset's server name" {
				tc.pod.Annotations[apis.AnnotationPostgresServerName] = "app-ro.db.svc"
				tc.want = Target{Host: "127.1.2.3", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor", ServerName: "app-ro.db.svc", SSLMode: pgstats.SSLModeVerifyFull}
			}
			got, err := ResolveTarget(tc.pod, cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ResolveTarget (-want,+got):\n%s", diff)
			}
		})
	}
}

// testCA returns a self-signed CA certificate in PEM.
func testCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func secret(name, version string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "db", ResourceVersion: version}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestCredentialsFrom(t *testing.T) {
	ca := string(testCA(t))
	target := Target{Host: "127.1.2.3", Port: 5432, Namespace: "db", CredentialsSecret: "likewise-monitor"}
	withCASecret := target
	withCASecret.CASecret = "db-ca"
	for _, tc := range []struct {
		name    string
		target  Target
		creds   *corev1.Secret
		ca      *corev1.Secret
		want    Credentials
		wantErr string
	}{
		{
			name:   "username and password",
			target: target,
			creds:  secret("likewise-monitor", "1", map[string]string{"username": "monitor", "password": "s3cret"}),
			want:   Credentials{User: "monitor", Password: "s3cret", Version: "1"},
		},
		{
			name:   "Crunchy's user key, dbname and a CA in the same Secret",
			target: target,
			creds:  secret("likewise-monitor", "2", map[string]string{"user": "monitor", "password": "s3cret", "dbname": "app", "ca.crt": ca}),
			want:   Credentials{User: "monitor", Password: "s3cret", Database: "app", CAPEM: []byte(ca), Version: "2"},
		},
		{
			name:   "CA from its own Secret",
			target: withCASecret,
			creds:  secret("likewise-monitor", "3", map[string]string{"username": "monitor", "password": "s3cret"}),
			ca:     secret("db-ca", "9", map[string]string{"ca.crt": ca, "tls.key": "never read"}),
			want:   Credentials{User: "monitor", Password: "s3cret", CAPEM: []byte(ca), Version: "3,9"},
		},
		{
			name:    "no username",
			target:  target,
			creds:   secret("likewise-monitor", "1", map[string]string{"password": "s3cret"}),
			wantErr: `secret db/likewise-monitor has no "username" (or "user") key`,
		},
		{
			name:    "no password",
			target:  target,
			creds:   secret("likewise-monitor", "1", map[string]string{"username": "monitor"}),
			wantErr: `secret db/likewise-monitor has no "password" key`,
		},
		{
			name:    "ca.crt that is not a certificate",
			target:  target,
			creds:   secret("likewise-monitor", "1", map[string]string{"username": "monitor", "password": "s3cret", "ca.crt": "s3cret-looking"}),
			wantErr: `secret db/likewise-monitor: "ca.crt" holds no PEM certificate`,
		},
		{
			name:    "CA Secret without ca.crt",
			target:  withCASecret,
			creds:   secret("likewise-monitor", "1", map[string]string{"username": "monitor", "password": "s3cret"}),
			ca:      secret("db-ca", "9", map[string]string{"tls.crt": ca}),
			wantErr: `secret db/db-ca has no "ca.crt" key`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CredentialsFrom(tc.target, tc.creds, tc.ca)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows a secret value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CredentialsFrom (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestConnConfig(t *testing.T) {
	ca := testCA(t)
	target := Target{Host: "127.1.2.3", Port: 6432, Namespace: "db", CredentialsSecret: "m", ServerName: "app-rw", SSLMode: pgstats.SSLModeVerifyFull}
	with := func(mode pgstats.SSLMode) Target { t := target; t.SSLMode = mode; return t }
	for _, tc := range []struct {
		name    string
		target  Target
		creds   Credentials
		want    pgstats.ConnConfig
		wantErr string
	}{
		{
			name:   "CA: verify-full with the server name; the Secret's database",
			target: target,
			creds:  Credentials{User: "monitor", Password: "pw", Database: "app", CAPEM: ca},
			want: pgstats.ConnConfig{DSN: "postgres://monitor@127.1.2.3:6432/app?sslmode=verify-full", Password: "pw", CAPEM: ca,
				ServerName: "app-rw", SSLMode: pgstats.SSLModeVerifyFull, RestrictKeys: true, StatementTimeout: 3 * time.Second, ConnectTimeout: 3 * time.Second},
		},
		{
			name:    "no CA: verify-full fails, saying what to do",
			target:  target,
			creds:   Credentials{User: "monitor", Password: "pw"},
			wantErr: `no CA to verify the server with (sslmode verify-full, the default): add key "ca.crt" to secret db/m or name a Secret holding it with annotation likewise.dev/postgres-ca-secret; or opt this pod out of verification with annotation likewise.dev/postgres-sslmode=require (encrypted, not verified) or disable (plaintext)`,
		},
		{
			name:   "no CA, require by opt-in: no server name, default database",
			target: with(pgstats.SSLModeRequire),
			creds:  Credentials{User: "monitor", Password: "pw"},
			want: pgstats.ConnConfig{DSN: "postgres://monitor@127.1.2.3:6432/postgres?sslmode=require", Password: "pw",
				SSLMode: pgstats.SSLModeRequire, RestrictKeys: true, StatementTimeout: 3 * time.Second, ConnectTimeout: 3 * time.Second},
		},
		{
			name:   "no CA, disable by opt-in",
			target: with(pgstats.SSLModeDisable),
			creds:  Credentials{User: "monitor", Password: "pw"},
			want: pgstats.ConnConfig{DSN: "postgres://monitor@127.1.2.3:6432/postgres?sslmode=disable", Password: "pw",
				SSLMode: pgstats.SSLModeDisable, RestrictKeys: true, StatementTimeout: 3 * time.Second, ConnectTimeout: 3 * time.Second},
		},
		{
			name:    "CA, yet require by opt-in: refused",
			target:  with(pgstats.SSLModeRequire),
			creds:   Credentials{User: "monitor", Password: "pw", CAPEM: ca},
			wantErr: `annotation likewise.dev/postgres-sslmode=require: the server would not be verified although a CA is given ("ca.crt" of secret db/m): remove the annotation to verify it`,
		},
		{
			name:    "CA Secret, yet disable by opt-in: refused",
			target:  func() Target { t := with(pgstats.SSLModeDisable); t.CASecret = "ca"; return t }(),
			creds:   Credentials{User: "monitor", Password: "pw", CAPEM: ca},
			wantErr: `annotation likewise.dev/postgres-sslmode=disable: the server would not be verified although a CA is given (secret db/ca): remove the annotation to verify it`,
		},
		{
			name:   "the annotation's database beats the Secret's; odd names are escaped",
			target: Target{Host: "::1", Port: 5432, Database: "my db/x", SSLMode: pgstats.SSLModeDisable},
			creds:  Credentials{User: "mon@itor", Password: "pw", Database: "app"},
			want: pgstats.ConnConfig{DSN: "postgres://mon%40itor@[::1]:5432/my%20db%2Fx?sslmode=disable", Password: "pw",
				SSLMode: pgstats.SSLModeDisable, RestrictKeys: true, StatementTimeout: 3 * time.Second, ConnectTimeout: 3 * time.Second},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConnConfig(tc.target, tc.creds, "postgres", 3*time.Second)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.HasPrefix(tc.wantErr, "no CA") != errors.Is(err, ErrNoCA) {
					t.Errorf("errors.Is(err, ErrNoCA) = %v", errors.Is(err, ErrNoCA))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ConnConfig (-want,+got):\n%s", diff)
			}
			// pgstats accepts it and names the target as written.
			if _, err := pgstats.NewSampler(got, nil); err != nil {
				t.Errorf("pgstats refuses it: %v", err)
			}
		})
	}
}

func TestClassifySampleError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Failure
	}{
		{"unreachable", &pgstats.Error{Cause: pgstats.CauseUnreachable}, FailureDatabaseUnreachable},
		{"authentication", &pgstats.Error{Cause: pgstats.CauseAuthentication, SQLState: "28P01"}, FailureCredentialsInvalid},
		{"privilege", &pgstats.Error{Cause: pgstats.CausePrivilege, SQLState: "42501"}, FailureInsufficientPrivilege},
		{"tls", &pgstats.Error{Cause: pgstats.CauseTLS}, FailureTLS},
		{"other sampling error", &pgstats.Error{Cause: pgstats.CauseOther, SQLState: "57014"}, FailureSampleFailed},
		{"wrapped", fmt.Errorf("pod db/a: %w", &pgstats.Error{Cause: pgstats.CauseTLS}), FailureTLS},
		{"not from pgstats", errors.New("something else"), FailureSampleFailed},
		{"nil", nil, Failure{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifySampleError(tc.err); got != tc.want {
				t.Errorf("ClassifySampleError = %q, want %q", got.Reason, tc.want.Reason)
			}
		})
	}
}

func TestFailureNames(t *testing.T) {
	reason := regexp.MustCompile(`^[A-Z][A-Za-z]*[a-z]$`)
	result := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	reasons, results := map[string]bool{}, map[string]bool{ResultOK: true}
	for _, f := range Failures {
		if !reason.MatchString(f.Reason) || !result.MatchString(f.Result) {
			t.Errorf("%+v: want a CamelCase reason and a snake_case result", f)
		}
		if reasons[f.Reason] || results[f.Result] {
			t.Errorf("%+v: reason or result used twice", f)
		}
		reasons[f.Reason], results[f.Result] = true, true
	}
}

func TestSampleable(t *testing.T) {
	ready := func(p *corev1.Pod, status corev1.ConditionStatus) *corev1.Pod {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		return p
	}
	terminating := ready(newPod("p").ip("127.1.1.2").pod, corev1.ConditionTrue)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	pending := newPod("p").ip("127.1.1.2").pod
	pending.Status.Phase = corev1.PodPending
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"running and ready", ready(newPod("p").ip("127.1.1.2").pod, corev1.ConditionTrue), true},
		{"not ready", ready(newPod("p").ip("127.1.1.2").pod, corev1.ConditionFalse), false},
		{"no IP", ready(newPod("p").pod, corev1.ConditionTrue), false},
		{"terminating", terminating, false},
		{"pending", pending, false},
		{"no Ready condition", func() *corev1.Pod { p := newPod("p").ip("127.1.1.2").pod; p.Status.Phase = corev1.PodRunning; return p }(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sampleable(tc.pod); got != tc.want {
				t.Errorf("sampleable = %v, want %v", got, tc.want)
			}
		})
	}
}
