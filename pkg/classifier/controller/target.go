package controller

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
)

// Keys of the credentials Secret. CloudNativePG's and Zalando's Secrets use username, Crunchy's
// user; all use password. dbname and ca.crt are optional.
const (
	SecretKeyUsername = "username"
	SecretKeyUser     = "user"
	SecretKeyPassword = "password"
	SecretKeyDatabase = "dbname"
	SecretKeyCA       = "ca.crt"
)

// Target is where a pod's database is and which Secrets hold what reaching it takes. It comes
// from the pod alone (ResolveTarget); the Secrets are read separately.
type Target struct {
	// Host is the pod's IP.
	Host string
	Port int32
	// Database is the database to sample from the pod's annotation; "" means the credentials
	// Secret's dbname, else the default.
	Database string
	// CredentialsSecret and CASecret are Secret names in Namespace; CASecret "" means the
	// credentials Secret's ca.crt, if it has one.
	Namespace         string
	CredentialsSecret string
	CASecret          string
	// ServerName is the name the server's certificate must carry when a CA is given.
	ServerName string
	// SSLMode is pgstats.SSLModeVerifyFull unless the pod opts into a weaker mode by annotation
	// (SSLModeOptIn).
	SSLMode pgstats.SSLMode
}

// SSLModeOptIn says whether the target's connection is weaker than verify-full, by its pod's
// choice.
func (t Target) SSLModeOptIn() bool { return t.SSLMode != pgstats.SSLModeVerifyFull }

// sslModes are the values of annotation likewise.dev/postgres-sslmode.
var sslModes = []string{apis.SSLModeVerifyFull, apis.SSLModeRequire, apis.SSLModeDisable}

// ResolveTarget reads where pod's database is from its IP and likewise.dev/postgres-*
// annotations, with defaults from cfg. Its errors name the annotation at fault.
func ResolveTarget(pod *corev1.Pod, cfg Config) (Target, error) {
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil {
		return Target{}, fmt.Errorf("pod has no valid IP (status.podIP %q)", pod.Status.PodIP)
	}
	t := Target{
		Host:              ip.String(),
		Port:              cfg.DefaultPort,
		Namespace:         pod.Namespace,
		CredentialsSecret: cfg.DefaultCredentialsSecret,
		SSLMode:           pgstats.SSLModeVerifyFull,
	}
	a := pod.Annotations
	if v, ok := a[apis.AnnotationPostgresPort]; ok {
		port, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil || port == 0 {
			return Target{}, fmt.Errorf("annotation %s=%q: must be a port number from 1 to 65535", apis.AnnotationPostgresPort, v)
		}
		t.Port = int32(port)
	}
	if v, ok := a[apis.AnnotationPostgresDatabase]; ok {
		// PostgreSQL's names are C strings: one with a NUL byte names no database.
		if strings.TrimSpace(v) == "" || len(v) > 63 || strings.ContainsRune(v, 0) {
			return Target{}, fmt.Errorf("annotation %s=%q: must be a database name of 1 to 63 characters, without a NUL byte", apis.AnnotationPostgresDatabase, v)
		}
		t.Database = v
	}
	for _, s := range []struct {
		key string
		dst *string
	}{
		{apis.AnnotationPostgresCredentials, &t.CredentialsSecret},
		{apis.AnnotationPostgresCASecret, &t.CASecret},
	} {
		v, ok := a[s.key]
		if !ok {
			continue
		}
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			return Target{}, fmt.Errorf("annotation %s=%q: not a Secret name: %s", s.key, v, strings.Join(errs, "; "))
		}
		*s.dst = v
	}
	if v, ok := a[apis.AnnotationPostgresServerName]; ok {
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 && net.ParseIP(v) == nil {
			return Target{}, fmt.Errorf("annotation %s=%q: not a DNS name or IP address: %s", apis.AnnotationPostgresServerName, v, strings.Join(errs, "; "))
		}
		t.ServerName = v
	} else if cfg.DefaultServerName != nil {
		t.ServerName = cfg.DefaultServerName(pod)
	}
	if v, ok := a[apis.AnnotationPostgresSSLMode]; ok {
		// prefer and allow fall back to the other kind of connection, verify-ca checks no name:
		// none is what anyone asking for a mode by name would expect.
		if !slices.Contains(sslModes, v) {
			return Target{}, fmt.Errorf("annotation %s=%q: supported values: %s", apis.AnnotationPostgresSSLMode, v, strings.Join(sslModes, ", "))
		}
		t.SSLMode = pgstats.SSLMode(v)
	}
	return t, nil
}

// Credentials are what the Secrets give: the monitoring role, its password, optionally the
// database and the CA.
type Credentials struct {
	User     string
	Password string
	Database string
	CAPEM    []byte
	// Version identifies the Secrets' contents (their resourceVersions), to notice a change.
	Version string
}

// CredentialsFrom reads Credentials from the credentials Secret and, if the target names one,
// the CA Secret (nil otherwise). Its errors name the Secret and the key; they never contain a
// value.
func CredentialsFrom(t Target, creds, ca *corev1.Secret) (Credentials, error) {
	name := t.Namespace + "/" + t.CredentialsSecret
	var c Credentials
	userKey := SecretKeyUsername
	c.User = string(creds.Data[SecretKeyUsername])
	if c.User == "" {
		userKey = SecretKeyUser
		c.User = string(creds.Data[SecretKeyUser])
	}
	if c.User == "" {
		return Credentials{}, fmt.Errorf("secret %s has no %q (or %q) key", name, SecretKeyUsername, SecretKeyUser)
	}
	c.Password = string(creds.Data[SecretKeyPassword])
	if c.Password == "" {
		return Credentials{}, fmt.Errorf("secret %s has no %q key", name, SecretKeyPassword)
	}
	c.Database = string(creds.Data[SecretKeyDatabase])
	// The protocol sends each as a C string: a NUL byte would cut it short, or, in the DSN,
	// make it unparseable.
	for _, kv := range []struct{ key, value string }{
		{userKey, c.User}, {SecretKeyPassword, c.Password}, {SecretKeyDatabase, c.Database},
	} {
		if strings.ContainsRune(kv.value, 0) {
			return Credentials{}, fmt.Errorf("secret %s: %q holds a NUL byte", name, kv.key)
		}
	}
	c.Version = creds.ResourceVersion
	caName, caSecret := name, creds
	if t.CASecret != "" {
		if ca == nil {
			return Credentials{}, fmt.Errorf("secret %s/%s not read", t.Namespace, t.CASecret)
		}
		caName, caSecret = t.Namespace+"/"+t.CASecret, ca
		c.Version += "," + ca.ResourceVersion
	}
	if pemData, ok := caSecret.Data[SecretKeyCA]; ok {
		if !containsCertificate(pemData) {
			return Credentials{}, fmt.Errorf("secret %s: %q holds no PEM certificate", caName, SecretKeyCA)
		}
		c.CAPEM = pemData
	} else if t.CASecret != "" {
		return Credentials{}, fmt.Errorf("secret %s has no %q key", caName, SecretKeyCA)
	}
	return c, nil
}

func containsCertificate(data []byte) bool {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return false
		}
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err == nil {
				return true
			}
		}
	}
}

// ErrNoCA is the error of a target that should be verified (verify-full, the default) but has no
// CA to verify it with.
var ErrNoCA = errors.New("no CA to verify the server with")

// ConnConfig is how pgstats reaches the target: a URL from the pod's IP and the Secret's role
// (never a DSN taken from a Secret: RestrictKeys refuses keys that read local files anyway), the
// password apart, and the target's sslmode, which pgstats enforces with no fallback.
//
// Without a CA, verify-full fails (ErrNoCA) rather than trust the system's roots: a database's
// certificate in a cluster comes from a private CA (an operator's, cert-manager's), and the
// public roots would vouch for names the cluster does not own. A weaker mode with a CA at hand
// is refused too: the pod's opt-in is stale once its Secret gives a CA.
func ConnConfig(t Target, c Credentials, defaultDatabase string, timeout time.Duration) (pgstats.ConnConfig, error) {
	switch {
	case t.SSLMode == pgstats.SSLModeVerifyFull && len(c.CAPEM) == 0:
		return pgstats.ConnConfig{}, fmt.Errorf("%w (sslmode verify-full, the default): add key %q to secret %s/%s or name a Secret holding it with annotation %s; or opt this pod out of verification with annotation %s=%s (encrypted, not verified) or %s (plaintext)",
			ErrNoCA, SecretKeyCA, t.Namespace, t.CredentialsSecret, apis.AnnotationPostgresCASecret, apis.AnnotationPostgresSSLMode, apis.SSLModeRequire, apis.SSLModeDisable)
	case t.SSLModeOptIn() && len(c.CAPEM) > 0:
		return pgstats.ConnConfig{}, fmt.Errorf("annotation %s=%s: the server would not be verified although a CA is given (%s): remove the annotation to verify it", apis.AnnotationPostgresSSLMode, t.SSLMode, t.caSource())
	}
	db := t.Database
	if db == "" {
		db = c.Database
	}
	if db == "" {
		db = defaultDatabase
	}
	q := url.Values{}
	q.Set("sslmode", string(t.SSLMode))
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(c.User),
		Host:     net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))),
		Path:     "/" + db,
		RawPath:  "/" + url.PathEscape(db), // a "/" in a name stays part of it
		RawQuery: q.Encode(),
	}
	serverName := t.ServerName
	if len(c.CAPEM) == 0 {
		serverName = ""
	}
	return pgstats.ConnConfig{
		DSN:              u.String(),
		Password:         c.Password,
		CAPEM:            c.CAPEM,
		ServerName:       serverName,
		SSLMode:          t.SSLMode,
		RestrictKeys:     true,
		StatementTimeout: timeout,
		ConnectTimeout:   timeout,
	}, nil
}

// caSource names where the target's CA comes from, for messages.
func (t Target) caSource() string {
	if t.CASecret != "" {
		return fmt.Sprintf("secret %s/%s", t.Namespace, t.CASecret)
	}
	return fmt.Sprintf("%q of secret %s/%s", SecretKeyCA, t.Namespace, t.CredentialsSecret)
}
