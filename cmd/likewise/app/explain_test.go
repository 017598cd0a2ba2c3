package app

import (
	"bytes"
	"strings"
	"testing"
)

// TestExplainRejectsBadInput: every bad argument or flag is an error naming it, before any
// cluster is contacted (the kubeconfig points nowhere).
func TestExplainRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pod", "no-slash"}, `pod "no-slash": must be NAMESPACE/NAME`},
		{[]string{"pod", "a/b/c"}, `pod "a/b/c": must be NAMESPACE/NAME`},
		{[]string{"pod", "Bad_NS/x"}, `pod "Bad_NS/x": must be NAMESPACE/NAME`},
		{[]string{"node", "Bad_Node"}, `node "Bad_Node": a lowercase RFC 1123 subdomain`},
		{[]string{"pod"}, "accepts 1 arg(s), received 0"},
		{[]string{"pod", "a/b", "-o", "yaml"}, `--output "yaml": must be text or json`},
		{[]string{"pod", "a/b", "--scheduler-config-configmap", "nons"}, `--scheduler-config-configmap "nons": must be NAMESPACE/NAME`},
		{[]string{"pod", "a/b", "--scheduler-config-key", ""}, "--scheduler-config-key: must not be empty"},
		{[]string{"pod", "a/b", "--scheduler-lease", "x"}, `--scheduler-lease "x": must be NAMESPACE/NAME`},
		{[]string{"pod", "a/b", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"node", "n", "--min-pod-age", "-1s"}, "--min-pod-age: must not be negative"},
		{[]string{"node", "n", "--profile", ""}, "--profile: must name a profile"},
		{[]string{"pod", "a/b", "--scheduler-config", "/nonexistent/config.yaml"}, "--scheduler-config: scheduler config /nonexistent/config.yaml"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newExplainCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append(tc.args, "--kubeconfig", "/nonexistent/kubeconfig"))
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
