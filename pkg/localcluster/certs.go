package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Identity is a client of the cluster that Start issues a certificate and a kubeconfig for.
type Identity string

const (
	// Admin is user "likewise-admin" in group system:masters: unrestricted.
	Admin Identity = "admin"
	// KubeControllerManager is user system:kube-controller-manager, bound by the bootstrap RBAC
	// policy to exactly what kube-controller-manager needs.
	KubeControllerManager Identity = "kube-controller-manager"
	// KubeScheduler is user system:kube-scheduler, so a scheduler under test runs with the
	// permissions kube-scheduler has in a real cluster and no more.
	KubeScheduler Identity = "kube-scheduler"
	// KWOK is user "kwok-controller" in group system:masters. KWOK stands in for every kubelet
	// at once, which no node identity (limited to its own node) can do.
	KWOK Identity = "kwok"
)

// subject is who an identity is to the API server: CN is the user, O the groups.
type subject struct {
	user   string
	groups []string
}

var identities = map[Identity]subject{
	Admin:                 {user: "likewise-admin", groups: []string{"system:masters"}},
	KubeControllerManager: {user: "system:kube-controller-manager"},
	KubeScheduler:         {user: "system:kube-scheduler"},
	KWOK:                  {user: "kwok-controller", groups: []string{"system:masters"}},
}

// certValidity is long enough for a cluster left running by make local-up.
const certValidity = 365 * 24 * time.Hour

// Files under StateDir/pki.
const (
	fileCACert      = "ca.crt"
	fileCAKey       = "ca.key"
	fileServingCert = "serving.crt"
	fileServingKey  = "serving.key"
	fileSAKey       = "sa.key"
	fileSAPub       = "sa.pub"

	fileFrontProxyCACert     = "front-proxy-ca.crt"
	fileFrontProxyCAKey      = "front-proxy-ca.key"
	fileFrontProxyClientCert = "front-proxy-client.crt"
	fileFrontProxyClientKey  = "front-proxy-client.key"
	// frontProxyClientName is the only client the API server accepts request headers from.
	frontProxyClientName = "front-proxy-client"
)

// pki is the cluster's certificate authority and the files derived from it. All keys are ECDSA
// P-256: quick to generate, and accepted for serving, client auth and ServiceAccount signing.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte
}

// path returns the path of a file in the PKI directory.
func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// newPKI creates dir with a new CA, a serving certificate for 127.0.0.1 (shared by every
// component that serves), the ServiceAccount token signing key pair, and the front proxy's CA
// and client certificate (the API server's aggregation layer, and the request-header
// authentication that kube-controller-manager's own endpoints expect to be configured).
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{dir: dir}
	var err error
	if p.caCert, p.caKey, p.caPEM, err = newCA("likewise-local-ca", p.path(fileCACert), p.path(fileCAKey)); err != nil {
		return nil, err
	}

	// One serving certificate for every listener, all on 127.0.0.1. The in-cluster names let a
	// client that resolves kubernetes.default.svc to 127.0.0.1 verify the API server too.
	servingCert, servingKey, err := p.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "likewise-local-serving"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP(bindAddress), net.ParseIP(kubernetesServiceIP)},
	})
	if err != nil {
		return nil, fmt.Errorf("issuing the serving certificate: %w", err)
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the ServiceAccount signing key: %w", err)
	}
	saKeyPEM, err := encodeKey(saKey)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}

	// The front proxy has a CA of its own: a certificate from the main CA must not be able to
	// assert any user through request headers.
	fpCert, fpKey, _, err := newCA("likewise-local-front-proxy-ca", p.path(fileFrontProxyCACert), p.path(fileFrontProxyCAKey))
	if err != nil {
		return nil, err
	}
	fp := &pki{caCert: fpCert, caKey: fpKey}
	fpClientCert, fpClientKey, err := fp.issueClient(frontProxyClientName, nil)
	if err != nil {
		return nil, fmt.Errorf("issuing the front proxy client certificate: %w", err)
	}
	return p, writeFiles(map[string][]byte{
		p.path(fileServingCert):          servingCert,
		p.path(fileServingKey):           servingKey,
		p.path(fileSAKey):                saKeyPEM,
		p.path(fileSAPub):                pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
		p.path(fileFrontProxyClientCert): fpClientCert,
		p.path(fileFrontProxyClientKey):  fpClientKey,
	})
}

// newCA creates a self-signed CA and writes its certificate and key.
func newCA(commonName, certPath, keyPath string) (*x509.Certificate, crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating the key of %s: %w", commonName, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour), // tolerate a little clock skew
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating the certificate of %s: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := encodeCert(der)
	return cert, key, certPEM, writeFiles(map[string][]byte{certPath: certPEM, keyPath: keyPEM})
}

// loadPKI reads the CA of an existing cluster, so a process that attaches to it can issue
// client certificates.
func loadPKI(dir string) (*pki, error) {
	p := &pki{dir: dir}
	var err error
	if p.caPEM, err = os.ReadFile(p.path(fileCACert)); err != nil {
		return nil, err
	}
	block, _ := pem.Decode(p.caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", p.path(fileCACert))
	}
	if p.caCert, err = x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %w", p.path(fileCACert), err)
	}
	keyPEM, err := os.ReadFile(p.path(fileCAKey))
	if err != nil {
		return nil, err
	}
	if block, _ = pem.Decode(keyPEM); block == nil {
		return nil, fmt.Errorf("%s: no PEM key", p.path(fileCAKey))
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.path(fileCAKey), err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not a signing key", p.path(fileCAKey), key)
	}
	p.caKey = signer
	return p, nil
}

// issueClient returns a PEM client certificate and key for user in groups.
func (p *pki) issueClient(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	if user == "" {
		return nil, nil, errors.New("client certificate: empty user name")
	}
	return p.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// issue signs tmpl (subject, usages, SANs) with the CA and a new key.
func (p *pki) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	return encodeCert(der), keyPEM, err
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial number: %w", err)
	}
	return n, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFiles writes private (0600) files.
func writeFiles(files map[string][]byte) error {
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
