package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/path"
	"k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/apiserver/pkg/server/mux"
	apiserveroptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/tools/leaderelection"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/metrics/legacyregistry"
	controllermanager "k8s.io/controller-manager/app"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"
)

// The controllers' default secure ports: beside Kubernetes' own components' (10257
// kube-controller-manager, 10258 cloud-controller-manager, 10259 kube-scheduler, 10260
// cloud-controller-manager's webhook), so that all of them can share a host's network.
const (
	DefaultClassifierSecurePort = 10261
	DefaultRebalancerSecurePort = 10262
)

// removedMetricsBindAddress is the flag that served /metrics, /healthz and /readyz over plain
// HTTP. It stays registered (hidden) so that a Deployment still passing it fails with this
// message rather than pflag's "unknown flag", and never serves plaintext.
const removedMetricsBindAddress = "metrics-bind-address"

// servingFlags are a controller's secure serving of /metrics, /healthz, /readyz and /livez, as
// kube-scheduler and kube-controller-manager serve theirs: HTTPS (a self-signed certificate made
// in memory unless --tls-cert-file and --tls-private-key-file are given), every request
// authenticated by the API server (TokenReview, or the client CA of kube-system's
// extension-apiserver-authentication ConfigMap) and authorized by it (SubjectAccessReview), except
// the health paths (--authorization-always-allow-paths), which anyone may read.
type servingFlags struct {
	secure *apiserveroptions.SecureServingOptions
	authn  *apiserveroptions.DelegatingAuthenticationOptions
	authz  *apiserveroptions.DelegatingAuthorizationOptions

	metricsBindAddress string // removed; any value is an error
}

func newServingFlags(name string, port int) servingFlags {
	s := servingFlags{
		secure: apiserveroptions.NewSecureServingOptions(),
		authn:  apiserveroptions.NewDelegatingAuthenticationOptions(),
		authz:  apiserveroptions.NewDelegatingAuthorizationOptions(),
	}
	// A probe or a scrape needs the port: it cannot be turned off.
	s.secure.Required = true
	s.secure.BindPort = port
	// No directory: without --tls-cert-file the certificate is made in memory, as kube-scheduler's.
	s.secure.ServerCert.CertDirectory = ""
	s.secure.ServerCert.PairName = name
	// As kube-scheduler: a cluster whose ConfigMap cannot be read still authenticates tokens.
	s.authn.TolerateInClusterLookupFailure = true
	// Delegation is not optional: without an API server to ask, /metrics would answer no one.
	// The kubeconfigs default to --kubeconfig (see complete).
	s.authn.RemoteKubeConfigFileOptional = false
	s.authz.RemoteKubeConfigFileOptional = false
	return s
}

func (s *servingFlags) add(fs *pflag.FlagSet) {
	s.secure.AddFlags(fs)
	s.authn.AddFlags(fs)
	s.authz.AddFlags(fs)
	fs.StringVar(&s.metricsBindAddress, removedMetricsBindAddress, "", "removed: use --bind-address and --secure-port (HTTPS)")
	_ = fs.MarkHidden(removedMetricsBindAddress)
	// The library's help says the kubeconfigs are optional; here they default to --kubeconfig.
	for _, n := range []string{"authentication-kubeconfig", "authorization-kubeconfig"} {
		if f := fs.Lookup(n); f != nil {
			f.Usage = strings.Replace(f.Usage, "kubeconfig file pointing at the 'core' kubernetes server", "kubeconfig file (default: --kubeconfig, or in-cluster) of the API server", 1)
		}
	}
}

// validate checks the serving flags; every error names its flag.
func (s *servingFlags) validate(fs *pflag.FlagSet, bad func(string, ...any)) {
	if fs.Changed(removedMetricsBindAddress) {
		bad("--%s: removed: /metrics, /healthz, /readyz and /livez are served over HTTPS on --bind-address and --secure-port (default %d), /metrics to a client allowed to get it (ClusterRole likewise-metrics-reader); there is no plaintext port",
			removedMetricsBindAddress, s.secure.BindPort)
	}
	if s.secure.BindPort < 1 || s.secure.BindPort > 65535 {
		bad("--secure-port %d: must be from 1 to 65535", s.secure.BindPort)
	}
	cert, key := s.secure.ServerCert.CertKey.CertFile, s.secure.ServerCert.CertKey.KeyFile
	switch {
	case cert != "" && key == "":
		bad("--tls-cert-file %q: needs --tls-private-key-file", cert)
	case cert == "" && key != "":
		bad("--tls-private-key-file %q: needs --tls-cert-file", key)
	case cert != "":
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			bad("--tls-cert-file %q and --tls-private-key-file %q: %v", cert, key, err)
		}
	}
	if v := s.secure.MinTLSVersion; v != "" {
		if _, err := cliflag.TLSVersion(v); err != nil {
			bad("--tls-min-version %q: %v", v, err)
		}
	}
	if _, err := cliflag.TLSCipherSuites(s.secure.CipherSuites); err != nil {
		bad("--tls-cipher-suites %q: %v", strings.Join(s.secure.CipherSuites, ","), err)
	}
	if _, err := path.NewAuthorizer(s.authz.AlwaysAllowPaths); err != nil {
		bad("--authorization-always-allow-paths: %v", err)
	}
	// The library's own checks (TLS versions and ciphers, request headers): its messages name
	// their flag, but not always first.
	var libErrs []error
	libErrs = append(libErrs, s.secure.Validate()...)
	libErrs = append(libErrs, s.authn.Validate()...)
	libErrs = append(libErrs, s.authz.Validate()...)
	for _, err := range libErrs {
		msg := err.Error()
		if strings.HasPrefix(msg, "--secure-port ") {
			continue // checked above
		}
		bad("%s", nameFlag(fs, msg))
	}
}

// nameFlag puts the flag a message is about (the longest flag name in it) first: "--name: message".
func nameFlag(fs *pflag.FlagSet, msg string) string {
	if strings.HasPrefix(msg, "--") {
		return msg
	}
	named := ""
	fs.VisitAll(func(f *pflag.Flag) {
		if len(f.Name) > len(named) && strings.Contains(msg, f.Name) {
			named = f.Name
		}
	})
	if named == "" {
		named = "secure-port"
	}
	return "--" + named + ": " + msg
}

// serve starts serving /metrics, /healthz, /livez and /readyz over HTTPS. The authentication and
// authorization kubeconfigs default to kubeconfig ("": in-cluster). /healthz fails when leader
// election (healthz, if any) is stuck; /readyz fails while ready is false, saying notReady in
// the log, and once ctx is done. It returns a func that stops the server and waits for it.
func (s *servingFlags) serve(ctx context.Context, name, kubeconfig string, ready func() bool, notReady string,
	le *leaderelection.HealthzAdaptor) (stop func(), err error) {
	logger := klog.FromContext(ctx)
	if s.authn.RemoteKubeConfigFile == "" {
		s.authn.RemoteKubeConfigFile = kubeconfig
	}
	if s.authz.RemoteKubeConfigFile == "" {
		s.authz.RemoteKubeConfigFile = kubeconfig
	}
	if err := s.secure.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("making a self-signed serving certificate: %w", err)
	}
	var info *server.SecureServingInfo
	if err := s.secure.ApplyTo(&info); err != nil {
		return nil, fmt.Errorf("--bind-address %s --secure-port %d: %w", s.secure.BindAddress, s.secure.BindPort, err)
	}
	stopCh := make(chan struct{})
	defer func() {
		if err != nil {
			_ = info.Listener.Close()
		}
	}()
	var authn server.AuthenticationInfo
	if err := s.authn.ApplyTo(&authn, info, nil); err != nil {
		return nil, fmt.Errorf("delegated authentication (--authentication-kubeconfig): %w", err)
	}
	var authz server.AuthorizationInfo
	if err := s.authz.ApplyTo(&authz); err != nil {
		return nil, fmt.Errorf("delegated authorization (--authorization-kubeconfig): %w", err)
	}
	open, err := path.NewAuthorizer(s.authz.AlwaysAllowPaths)
	if err != nil {
		return nil, fmt.Errorf("--authorization-always-allow-paths: %w", err)
	}
	authn.Authenticator = anonymousOnlyOn(authn.Authenticator, open)

	var healthChecks []healthz.HealthChecker
	if le != nil {
		healthChecks = append(healthChecks, le)
	}
	readyChecks := []healthz.HealthChecker{
		healthz.NamedCheck("ready", func(*http.Request) error {
			if !ready() {
				return fmt.Errorf("%s", notReady)
			}
			return nil
		}),
		healthz.NewShutdownHealthz(ctx.Done()),
	}
	m := mux.NewPathRecorderMux(name)
	healthz.InstallHandler(m, healthChecks...)
	healthz.InstallLivezHandler(m)
	healthz.InstallReadyzHandler(m, readyChecks...)
	m.Handle("/metrics", legacyregistry.Handler())

	handler := controllermanager.BuildHandlerChain(m, &authz, &authn)
	serverStopped, _, err := info.Serve(handler, 5*time.Second, stopCh)
	if err != nil {
		return nil, fmt.Errorf("serving on --bind-address %s --secure-port %d: %w", s.secure.BindAddress, s.secure.BindPort, err)
	}
	logger.Info("Serving securely /metrics (authorized by the API server), /healthz, /livez and /readyz (to anyone)",
		"address", info.Listener.Addr().String())
	return func() {
		close(stopCh)
		<-serverStopped
	}, nil
}

// anonymousOnlyOn admits a request without credentials only on the paths that open allows (the
// health paths): elsewhere it is refused as unauthenticated (401), rather than passed on as
// system:anonymous for the API server to refuse (403). The library's delegating authenticator
// admits anonymous requests everywhere.
func anonymousOnlyOn(authn authenticator.Request, open authorizer.Authorizer) authenticator.Request {
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		resp, ok, err := authn.AuthenticateRequest(req)
		if err != nil || !ok || resp.User.GetName() != user.Anonymous {
			return resp, ok, err
		}
		d, _, _ := open.Authorize(req.Context(), authorizer.AttributesRecord{Path: req.URL.Path, Verb: strings.ToLower(req.Method)})
		if d == authorizer.DecisionAllow {
			return resp, ok, nil
		}
		return nil, false, nil
	})
}
