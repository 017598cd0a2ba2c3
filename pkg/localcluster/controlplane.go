package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Cluster-wide settings of the control plane.
const (
	// serviceCIDR is virtual: nothing connects to a Service IP here (there is no kube-proxy).
	// 198.18.0.0/15 is reserved for benchmarking (RFC 2544) and routed nowhere, so a stray
	// connection could not reach a real host; 10.0.0.0/8 is avoided on purpose.
	serviceCIDR = "198.18.0.0/16"
	// kubernetesServiceIP is the first address of serviceCIDR, given to Service "kubernetes".
	kubernetesServiceIP   = "198.18.0.1"
	serviceAccountIssuer  = "https://kubernetes.default.svc.cluster.local"
	etcdMemberName        = "likewise"
	addressInUseSubstring = "address already in use"
	launchAttempts        = 3
)

// component is one program of the cluster: how to run it and how to tell it is ready.
type component struct {
	name   string
	binary string
	nPorts int
	// fixedPorts, when set, are used instead of free ones (a restart keeps its address).
	fixedPorts []int
	args       func(ports []int) []string
	env        []string
	// prepare runs before each attempt, once the ports are known.
	prepare func(ports []int) error
	// ready returns nil once the component serves.
	ready func(ctx context.Context, ports []int) error
}

// logPath is where a component's output goes.
func (c *Cluster) logPath(name string) string {
	return filepath.Join(c.stateDir, logsDir, name+".log")
}

// launch starts comp on free ports and waits until it is ready. When another program took a
// port between our probe and the bind, it tries again on new ports. A failure names the
// component and quotes the end of its log.
func (c *Cluster) launch(ctx context.Context, comp component) error {
	logger := klog.FromContext(ctx)
	logPath := c.logPath(comp.name)
	for attempt := 1; ; attempt++ {
		begin := time.Now()
		ports, err := comp.fixedPorts, error(nil)
		if ports == nil {
			ports, err = freePorts(comp.nPorts)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", comp.name, err)
		}
		if comp.prepare != nil {
			if err := comp.prepare(ports); err != nil {
				return fmt.Errorf("%s: %w", comp.name, err)
			}
		}
		offset := logSize(logPath)
		p, err := startProcess(comp.name, comp.binary, comp.args(ports), comp.env, logPath, c.detached, c.slotLock)
		if err != nil {
			return err
		}
		c.procs = append(c.procs, p)
		if err := c.saveState(); err != nil {
			return err
		}
		err = waitReady(ctx, p, func(ctx context.Context) error { return comp.ready(ctx, ports) })
		if err == nil {
			logger.V(1).Info("Started", "process", comp.name, "pid", p.PID, "ports", ports, "duration", time.Since(begin).Round(time.Millisecond))
			return nil
		}
		out := readLogFrom(logPath, offset)
		if p.exited() && strings.Contains(out, addressInUseSubstring) && attempt < launchAttempts {
			logger.Info("A port was taken before the process bound it; retrying on other ports", "process", comp.name, "ports", ports)
			c.procs = c.procs[:len(c.procs)-1]
			continue
		}
		if stopErr := p.stop(stopGrace); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return fmt.Errorf("%s %w; last lines of %s:\n%s", comp.name, err, logPath, tail(out, logTailLines))
	}
}

// waitReady polls ready until it succeeds, the process exits, or ctx ends.
func waitReady(ctx context.Context, p *process, ready func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("exited while starting (%s)", p.exitDescription())
		}
		if err := ready(ctx); err != nil {
			last = err
			return false, nil
		}
		return true, nil
	})
	if err != nil && ctx.Err() != nil {
		if last == nil {
			last = ctx.Err()
		}
		return fmt.Errorf("did not become ready before the start timeout (last check: %w)", last)
	}
	return err
}

// etcd is a single-member etcd on plain HTTP (loopback only) with fsync off: its data lives as
// long as the cluster and is never reused.
func (c *Cluster) etcd() component {
	return component{
		name:   binEtcd,
		binary: c.tools.etcd,
		nPorts: 2,
		args: func(p []int) []string {
			client, peer := "http://"+hostPort(p[0]), "http://"+hostPort(p[1])
			return []string{
				"--name=" + etcdMemberName,
				"--data-dir=" + filepath.Join(c.stateDir, "etcd"),
				"--listen-client-urls=" + client,
				"--advertise-client-urls=" + client,
				"--listen-peer-urls=" + peer,
				"--initial-advertise-peer-urls=" + peer,
				"--initial-cluster=" + etcdMemberName + "=" + peer,
				"--initial-cluster-state=new",
				"--unsafe-no-fsync=true",
				"--auto-compaction-mode=periodic",
				"--auto-compaction-retention=1h",
			}
		},
		prepare: func(p []int) error {
			c.ports.EtcdClient, c.ports.EtcdPeer = p[0], p[1]
			return nil
		},
		ready: func(ctx context.Context, p []int) error {
			body, err := httpGet(ctx, http.DefaultClient, "http://"+hostPort(p[0])+"/health")
			if err != nil {
				return err
			}
			if !strings.Contains(body, `"health":"true"`) {
				return fmt.Errorf("/health: %s", body)
			}
			return nil
		},
	}
}

// apiServer is a secure kube-apiserver: client certificates, RBAC and Node authorization,
// ServiceAccount tokens signed by the cluster's key.
func (c *Cluster) apiServer() component {
	pkiFile := c.pki.path
	return component{
		name:   binKubeAPIServer,
		binary: c.tools.apiServer,
		nPorts: 1,
		args: func(p []int) []string {
			return append([]string{
				"--etcd-servers=http://" + hostPort(c.ports.EtcdClient),
				"--bind-address=" + bindAddress,
				"--advertise-address=" + bindAddress,
				"--secure-port=" + strconv.Itoa(p[0]),
				"--tls-cert-file=" + pkiFile(fileServingCert),
				"--tls-private-key-file=" + pkiFile(fileServingKey),
				"--client-ca-file=" + pkiFile(fileCACert),
				"--authorization-mode=Node,RBAC",
				"--enable-admission-plugins=NodeRestriction",
				"--service-account-issuer=" + serviceAccountIssuer,
				"--service-account-key-file=" + pkiFile(fileSAPub),
				"--service-account-signing-key-file=" + pkiFile(fileSAKey),
				"--service-cluster-ip-range=" + serviceCIDR,
				"--requestheader-client-ca-file=" + pkiFile(fileFrontProxyCACert),
				"--requestheader-allowed-names=" + frontProxyClientName,
				"--requestheader-username-headers=X-Remote-User",
				"--requestheader-group-headers=X-Remote-Group",
				"--requestheader-extra-headers-prefix=X-Remote-Extra-",
				"--proxy-client-cert-file=" + pkiFile(fileFrontProxyClientCert),
				"--proxy-client-key-file=" + pkiFile(fileFrontProxyClientKey),
				// The endpoints of Service "kubernetes" would be 127.0.0.1, which Endpoints
				// validation rejects; nothing in this cluster needs them.
				"--endpoint-reconciler-type=none",
				"--allow-privileged=true",
				"--profiling=false",
			}, c.verbosityArgs()...)
		},
		prepare: func(p []int) error {
			c.ports.APIServer = p[0]
			c.server = "https://" + hostPort(p[0])
			if err := writeKubeconfigs(c.pki, c.stateDir, c.server); err != nil {
				return err
			}
			return c.loadAdminClient()
		},
		ready: func(ctx context.Context, _ []int) error {
			body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			if err != nil {
				return fmt.Errorf("/readyz: %w", err)
			}
			if string(body) != "ok" {
				return fmt.Errorf("/readyz: %s", body)
			}
			return nil
		},
	}
}

// controllerManager runs every default controller as its own ServiceAccount, except node IPAM:
// nodes get their loopback podCIDRs from AddNodes.
func (c *Cluster) controllerManager() component {
	pkiFile := c.pki.path
	kubeconfig := kubeconfigPath(c.stateDir, KubeControllerManager)
	return component{
		name:   binKubeControllerManager,
		binary: c.tools.controllerManager,
		nPorts: 1,
		args: func(p []int) []string {
			return append([]string{
				"--kubeconfig=" + kubeconfig,
				"--authentication-kubeconfig=" + kubeconfig,
				"--authorization-kubeconfig=" + kubeconfig,
				"--bind-address=" + bindAddress,
				"--secure-port=" + strconv.Itoa(p[0]),
				"--tls-cert-file=" + pkiFile(fileServingCert),
				"--tls-private-key-file=" + pkiFile(fileServingKey),
				"--service-account-private-key-file=" + pkiFile(fileSAKey),
				"--root-ca-file=" + pkiFile(fileCACert),
				"--cluster-signing-cert-file=" + pkiFile(fileCACert),
				"--cluster-signing-key-file=" + pkiFile(fileCAKey),
				"--use-service-account-credentials=true",
				"--service-cluster-ip-range=" + serviceCIDR,
				"--allocate-node-cidrs=false",
				"--leader-elect=false", // one instance; skips waiting for a lease
				"--kube-api-qps=100",
				"--kube-api-burst=200",
			}, c.verbosityArgs()...)
		},
		prepare: func(p []int) error {
			c.ports.ControllerManager = p[0]
			return nil
		},
		ready: func(ctx context.Context, p []int) error {
			if _, err := httpGet(ctx, c.httpsClient, "https://"+hostPort(p[0])+"/healthz"); err != nil {
				return err
			}
			// Pods are refused until their namespace has its ServiceAccount, so the cluster is
			// not usable before the ServiceAccount controller has run once.
			return defaultServiceAccountExists(ctx, c.client, metav1.NamespaceDefault)
		},
	}
}

func defaultServiceAccountExists(ctx context.Context, client kubernetes.Interface, namespace string) error {
	if _, err := client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("ServiceAccount %s/default: %w", namespace, err)
	}
	return nil
}

func (c *Cluster) verbosityArgs() []string {
	return []string{"--v=" + strconv.Itoa(c.opts.Verbosity)}
}

// newHTTPSClient trusts only the cluster's CA.
func newHTTPSClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the cluster CA certificate does not parse")
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

// httpGet returns the body of a 200 response.
func httpGet(ctx context.Context, client *http.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), nil
}

func hostPort(port int) string { return bindAddress + ":" + strconv.Itoa(port) }
