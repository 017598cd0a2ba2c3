package scenario

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/localcluster"
)

// Who may scrape likewise's controllers, as the manifests ship it.
const (
	// MetricsReaderRole is the ClusterRole that allows get on /metrics.
	MetricsReaderRole = "likewise-metrics-reader"
	// MetricsScraper is the ServiceAccount (in ClassifierNamespace) that Running.Metrics scrapes
	// as, bound to MetricsReaderRole, as a user binds their Prometheus'.
	MetricsScraper = "likewise-metrics-scraper"
)

// ServingArgs are the flags that serve a controller's /metrics, /healthz, /readyz and /livez on
// 127.0.0.1:port (HTTPS, delegated authentication and authorization, as the manifests run it).
func ServingArgs(port int) []string {
	return []string{"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port)}
}

// Running is one of bin/likewise's controllers running with a local cluster.
type Running struct {
	// Port serves /metrics, /healthz, /readyz and /livez over HTTPS on 127.0.0.1.
	Port int

	cluster *localcluster.Cluster
	mu      sync.Mutex
	token   string // MetricsScraper's
}

// Metrics returns the controller's /metrics, read with a token of MetricsScraper (created and
// bound to MetricsReaderRole on first use; the ClusterRole comes with InstallBase).
func (r *Running) Metrics(ctx context.Context) (string, error) {
	r.mu.Lock()
	token := r.token
	r.mu.Unlock()
	if token == "" {
		var err error
		if token, err = MetricsReaderToken(ctx, r.cluster); err != nil {
			return "", err
		}
		r.mu.Lock()
		r.token = token
		r.mu.Unlock()
	}
	status, body, err := r.Get(ctx, "/metrics", token)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return body, fmt.Errorf("GET /metrics as %s/%s: %d: %s", ClassifierNamespace, MetricsScraper, status, body)
	}
	return body, nil
}

// Get reads path from the controller over HTTPS, with token as a bearer token unless it is "".
// The server's certificate is its own self-signed one, made in memory: on loopback, the check is
// about what it answers, not who it is.
func (r *Running) Get(ctx context.Context, path, token string) (status int, body string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "https://127.0.0.1:" + strconv.Itoa(r.Port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := insecureLoopback.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), err
}

var insecureLoopback = &http.Client{Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback, the component's in-memory self-signed certificate
}}

// MetricsReaderToken returns a token of MetricsScraper, a ServiceAccount bound to
// MetricsReaderRole by a ClusterRoleBinding of the same name (both created if missing).
func MetricsReaderToken(ctx context.Context, c *localcluster.Cluster) (string, error) {
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: MetricsScraper},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: MetricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ClassifierNamespace, Name: MetricsScraper}},
	}
	if _, err := c.Client().RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("binding %s to %s: %w", MetricsScraper, MetricsReaderRole, err)
	}
	return ServiceAccountToken(ctx, c, ClassifierNamespace, MetricsScraper)
}

// ServiceAccountToken creates the ServiceAccount namespace/name if it does not exist and returns
// a token of it (TokenRequest, valid for an hour). Never log it.
func ServiceAccountToken(ctx context.Context, c *localcluster.Cluster, namespace, name string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := c.Client().CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("ServiceAccount %s/%s: %w", namespace, name, err)
	}
	expiry := int64(3600)
	tr, err := c.Client().CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// controllerReady is a controller's readiness: /readyz answers ok, without a token.
func controllerReady(ctx context.Context, port int) error {
	status, body, err := (&Running{Port: port}).Get(ctx, "/readyz", "")
	if err != nil {
		return err
	}
	if status != http.StatusOK || body != "ok" {
		return fmt.Errorf("readyz: %d %s", status, body)
	}
	return nil
}
