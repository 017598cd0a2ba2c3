package controller

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"net/url"
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
}

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
		if strings.TrimSpace(v) == "" || len(v) > 63 {
			return Target{}, fmt.Errorf("annotation %s=%q: must be a database name of 1 to 63 characters", apis.AnnotationPostgresDatabase, v)
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
	c.User = string(creds.Data[SecretKeyUsername])
	if c.User == "" {
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

// ConnConfig is how pgstats reaches the target: a URL from the pod's IP and the Secret's role
// (never a DSN taken from a Secret: RestrictKeys refuses keys that read local files anyway), the
// password apart, verify-full with the CA when there is one, and sslmode=prefer without.
func ConnConfig(t Target, c Credentials, defaultDatabase string, timeout time.Duration) pgstats.ConnConfig {
	db := t.Database
	if db == "" {
		db = c.Database
	}
	if db == "" {
		db = defaultDatabase
	}
	q := url.Values{}
	q.Set("sslmode", "prefer")
	if len(c.CAPEM) > 0 {
		q.Set("sslmode", "verify-full")
	}
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
		RestrictKeys:     true,
		StatementTimeout: timeout,
		ConnectTimeout:   timeout,
	}
}
