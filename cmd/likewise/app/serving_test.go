package app

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/path"
)

func TestServingDefaults(t *testing.T) {
	c, err := parseClassifierFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRebalancerFlags(t, "--scheduler-config="+shippedSchedulerConfig)
	if err != nil {
		t.Fatal(err)
	}
	type serving struct {
		Address, PairName, CertDir string
		Port                       int
		AllowPaths                 []string
		KubeconfigOptional         [2]bool
	}
	get := func(s servingFlags) serving {
		return serving{
			Address: s.secure.BindAddress.String(), Port: s.secure.BindPort,
			PairName: s.secure.ServerCert.PairName, CertDir: s.secure.ServerCert.CertDirectory,
			AllowPaths:         s.authz.AlwaysAllowPaths,
			KubeconfigOptional: [2]bool{s.authn.RemoteKubeConfigFileOptional, s.authz.RemoteKubeConfigFileOptional},
		}
	}
	want := serving{Address: "0.0.0.0", Port: 10261, PairName: "likewise-classifier", AllowPaths: []string{"/healthz", "/readyz", "/livez"}}
	if diff := cmp.Diff(want, get(c.serving)); diff != "" {
		t.Errorf("classifier (-want,+got):\n%s", diff)
	}
	want.Port, want.PairName = 10262, "likewise-rebalancer"
	if diff := cmp.Diff(want, get(r.serving)); diff != "" {
		t.Errorf("rebalancer (-want,+got):\n%s", diff)
	}
}

// TestAnonymousOnlyOnHealthPaths: a request without credentials is anonymous on the health paths
// only; anywhere else it is unauthenticated (401). Authenticated users pass as they are.
func TestAnonymousOnlyOnHealthPaths(t *testing.T) {
	open, err := path.NewAuthorizer(newServingFlags("x", 1).authz.AlwaysAllowPaths)
	if err != nil {
		t.Fatal(err)
	}
	authn := anonymousOnlyOn(authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		name := user.Anonymous
		if req.Header.Get("Authorization") != "" {
			name = "system:serviceaccount:monitoring:prometheus"
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: name}}, true, nil
	}), open)
	for _, tc := range []struct {
		path  string
		token bool
		want  string // user, or "" for unauthenticated
	}{
		{"/healthz", false, user.Anonymous},
		{"/readyz", false, user.Anonymous},
		{"/livez", false, user.Anonymous},
		{"/metrics", false, ""},
		{"/healthz/leaderElection", false, ""},
		{"/metrics", true, "system:serviceaccount:monitoring:prometheus"},
	} {
		req := httptest.NewRequest(http.MethodGet, "https://127.0.0.1"+tc.path, nil)
		if tc.token {
			req.Header.Set("Authorization", "Bearer x")
		}
		resp, ok, err := authn.AuthenticateRequest(req)
		got := ""
		if ok {
			got = resp.User.GetName()
		}
		if err != nil || got != tc.want {
			t.Errorf("%s (token %v): user %q, error %v; want %q", tc.path, tc.token, got, err, tc.want)
		}
	}
}
