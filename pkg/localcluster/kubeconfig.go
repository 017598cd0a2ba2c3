package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Paths inside StateDir that others may rely on (documented in docs/local-cluster.md).
const (
	// AdminKubeconfigFile is the admin kubeconfig, relative to StateDir.
	AdminKubeconfigFile = "kubeconfig"
	// kubeconfigsDir holds one kubeconfig per other identity: <identity>.kubeconfig.
	kubeconfigsDir = "kubeconfigs"
	// contextName names the single cluster, user and context of every kubeconfig written here.
	contextName = "likewise-local"
)

// kubeconfigPath is where the kubeconfig of id lives in stateDir.
func kubeconfigPath(stateDir string, id Identity) string {
	if id == Admin {
		return filepath.Join(stateDir, AdminKubeconfigFile)
	}
	return filepath.Join(stateDir, kubeconfigsDir, string(id)+".kubeconfig")
}

// writeKubeconfigs issues a client certificate for every Identity and writes its kubeconfig.
// The credentials are embedded, so a kubeconfig is usable on its own.
func writeKubeconfigs(p *pki, stateDir, server string) error {
	if err := os.MkdirAll(filepath.Join(stateDir, kubeconfigsDir), 0o700); err != nil {
		return err
	}
	for id, sub := range identities {
		certPEM, keyPEM, err := p.issueClient(sub.user, sub.groups)
		if err != nil {
			return fmt.Errorf("client certificate for %s: %w", id, err)
		}
		cfg := kubeconfig(server, p.caPEM, certPEM, keyPEM)
		if err := clientcmd.WriteToFile(*cfg, kubeconfigPath(stateDir, id)); err != nil {
			return fmt.Errorf("kubeconfig for %s: %w", id, err)
		}
	}
	return nil
}

func kubeconfig(server string, caPEM, certPEM, keyPEM []byte) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	return cfg
}

// restConfigFromKubeconfig loads a kubeconfig written by writeKubeconfigs.
func restConfigFromKubeconfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	// Tests create many objects quickly; client-go's default 5 QPS would make them wait.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// KubeconfigForServiceAccount writes a kubeconfig that authenticates as the ServiceAccount
// namespace/name with a fresh token (TokenRequest, valid for an hour), so a component can run
// with exactly the rights its manifests grant it. It returns the file's path.
func (c *Cluster) KubeconfigForServiceAccount(ctx context.Context, namespace, name string) (string, error) {
	expiry := int64(3600)
	tr, err := c.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: c.server, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	path := filepath.Join(c.stateDir, kubeconfigsDir, "serviceaccount-"+namespace+"-"+name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("kubeconfig for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return path, nil
}
