// Package packaging checks, without Docker or a cluster, what the image build and the kind recipe
// are made of: the build context keeps out build output, the local cluster's keys and the
// PostgreSQL builds; the Dockerfile cross-compiles for each target platform; and `make kind-up`
// uses only manifests that the local-cluster tests install, on a node image of the Kubernetes
// version likewise is built against.
package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"sigs.k8s.io/yaml"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func read(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// ignorePattern is one line of a .dockerignore, as Docker reads it: a path pattern relative to
// the context's root ("**" any number of directories, otherwise filepath.Match per element),
// which also excludes everything under a directory it matches; "!" re-includes.
type ignorePattern struct {
	elems  []string
	negate bool
}

func parseDockerignore(text string) []ignorePattern {
	var out []ignorePattern
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, strings.TrimSpace(line[1:])
		}
		line = strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")
		p.elems = strings.Split(line, "/")
		out = append(out, p)
	}
	return out
}

// matchElems says whether pattern elements match path elements, or a leading part of them (a
// directory the pattern names, and so everything in it).
func matchElems(pattern, path []string) bool {
	if len(pattern) == 0 {
		return true
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(path); i++ {
			if matchElems(pattern[1:], path[i:]) {
				return true
			}
		}
		return false
	}
	if len(path) == 0 {
		return false
	}
	ok, err := filepath.Match(pattern[0], path[0])
	return err == nil && ok && matchElems(pattern[1:], path[1:])
}

func excluded(patterns []ignorePattern, path string) bool {
	elems := strings.Split(path, "/")
	out := false
	for _, p := range patterns {
		if matchElems(p.elems, elems) {
			out = !p.negate
		}
	}
	return out
}

// TestDockerignoreKeepsOutLocalState: the build context (COPY . . in hack/Dockerfile) gets none
// of what a developer's tree holds besides the source: binaries, the local cluster's state (its
// CA and ServiceAccount signing keys, kubeconfigs, etcd data), the PostgreSQL builds, Git's
// history, test binaries and profiles. It still gets everything the build reads.
func TestDockerignoreKeepsOutLocalState(t *testing.T) {
	patterns := parseDockerignore(read(t, ".dockerignore"))
	for _, path := range []string{
		"bin/likewise-scheduler",
		"bin/likewise",
		"_output/local/pki/ca.key",
		"_output/local/pki/sa.key",
		"_output/local/kubeconfig",
		"_output/local/etcd/member/snap/db",
		"_output/bin/kube-apiserver",
		"_output/bin/postgresql-16/bin/postgres",
		"_output/bin/kind",
		"_output/images/likewise.tar",
		".git/HEAD",
		".git/objects/pack/pack-1.pack",
		"manifests.test",
		"test/integration/manifests/manifests.test",
		"cover.out",
		"pkg/rebalancer/cpu.prof",
		"pkg/plugins/workloadtypeaffinity/testdata/fuzz/FuzzX/cache/1",
	} {
		if !excluded(patterns, path) {
			t.Errorf(".dockerignore lets %s into the build context", path)
		}
	}
	for _, path := range []string{
		"go.mod", "go.sum", "Makefile", "cmd/scheduler/main.go", "cmd/likewise/main.go",
		"pkg/apis/keys.go", "hack/Dockerfile", "pkg/localcluster/kubeconfig.go",
	} {
		if excluded(patterns, path) {
			t.Errorf(".dockerignore keeps %s, which the build needs, out of the build context", path)
		}
	}
}

// TestDockerfileCrossCompiles: the build stage runs on the builder's platform and compiles for
// each target platform BuildKit names (docker buildx --platform linux/amd64,linux/arm64), so one
// Dockerfile makes both images without emulation.
func TestDockerfileCrossCompiles(t *testing.T) {
	df := read(t, "hack/Dockerfile")
	var args []string
	var buildFrom, buildRun string
	stage := ""
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stage = f[len(f)-1]
			if stage == "build" {
				buildFrom = line
			}
		case "ARG":
			if stage == "build" {
				args = append(args, strings.SplitN(f[1], "=", 2)[0])
			}
		case "RUN":
			if stage == "build" && strings.Contains(line, "make") {
				buildRun = line
			}
		}
	}
	if !strings.Contains(buildFrom, "--platform=$BUILDPLATFORM") {
		t.Errorf("build stage %q does not run on $BUILDPLATFORM: it would compile under emulation", buildFrom)
	}
	for _, a := range []string{"TARGETOS", "TARGETARCH"} {
		if !slices.Contains(args, a) {
			t.Errorf("build stage declares no ARG %s (declared: %v)", a, args)
		}
	}
	for _, env := range []string{"GOOS=${TARGETOS}", "GOARCH=${TARGETARCH}"} {
		if !strings.Contains(buildRun, env) {
			t.Errorf("the build's RUN %q does not set %s", buildRun, env)
		}
	}
}

// manifestPath is a path under the repository's manifests/ in a shell script (the script runs
// at the repository's root; $(pwd)/manifests/... is one too, /etc/kubernetes/manifests/... not).
var manifestPath = regexp.MustCompile(`(?:^|[\s"'=]|\$\(pwd\)/)(manifests/[A-Za-z0-9_./-]*[A-Za-z0-9_-])`)

// dryRunApplied says whether TestServerSideDryRun (test/integration/manifests) applies the file
// at rel as it is: a plain manifest, outside any kustomization and the Helm chart.
func dryRunApplied(root, rel string) bool {
	if !strings.HasSuffix(rel, ".yaml") || strings.HasPrefix(rel, "manifests/charts/") {
		return false
	}
	_, err := os.Stat(filepath.Join(root, filepath.Dir(rel), "kustomization.yaml"))
	return os.IsNotExist(err)
}

// TestKindUsesTestedManifests: every manifest, kustomization and config the kind recipe
// (hack/kind-*.sh) applies or mounts is one the local-cluster tests install: a kustomization that
// pkg/scenario installs or deploys, or a file the integration tests load by that path.
func TestKindUsesTestedManifests(t *testing.T) {
	root := repoRoot(t)
	// Referenced by the tests that run on the local cluster (test/integration, pkg/scenario,
	// test/e2e/deploy), not by this package.
	var tested strings.Builder
	for _, dir := range []string{"test/integration", "pkg/scenario", "test/e2e/deploy"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "kustomization.yaml") {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				tested.Write(data)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	installed := []string{scenario.CommonBase, scenario.SchedulerBase, scenario.ClassifierBase, scenario.RebalancerBase}
	scripts, err := filepath.Glob(filepath.Join(root, "hack", "kind-*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no hack/kind-*.sh: %v", err)
	}
	for _, s := range scripts {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, m := range manifestPath.FindAllStringSubmatch(string(data), -1) {
			paths = append(paths, m[1])
		}
		if len(paths) == 0 {
			t.Errorf("%s uses no manifests", filepath.Base(s))
		}
		for _, p := range slices.Compact(slices.Sorted(slices.Values(paths))) {
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s uses %s: %v", filepath.Base(s), p, err)
				continue
			}
			if !slices.Contains(installed, p) && !strings.Contains(tested.String(), p) && !dryRunApplied(root, p) {
				t.Errorf("%s uses %s, which no local-cluster test installs or loads", filepath.Base(s), p)
			}
		}
		// The components' bases expect the namespace of manifests/common: applied first.
		if i, j := strings.Index(string(data), "apply -k manifests/common"), strings.Index(string(data), "apply -k manifests/"); strings.Contains(string(data), "apply -k") && i != j {
			t.Errorf("%s applies a base before manifests/common", filepath.Base(s))
		}
	}
}

// TestKindMountsTheReplaceConfig: the replace-mode static pod reads its config where the kind
// cluster mounts manifests/scheduler/replace/kube-scheduler-config.yaml, the config the
// local-cluster tests run likewise-scheduler with in replace mode.
func TestKindMountsTheReplaceConfig(t *testing.T) {
	const file = "manifests/scheduler/replace/kube-scheduler-config.yaml"
	up := read(t, "hack/kind-up.sh")
	m := regexp.MustCompile(`hostPath: \$\(pwd\)/` + regexp.QuoteMeta(file) + `\s+containerPath: (\S+)`).FindStringSubmatch(up)
	if m == nil {
		t.Fatalf("hack/kind-up.sh mounts no %s into the control-plane node", file)
	}
	pod, err := scenario.ReadObjects("manifests/scheduler/replace/kube-scheduler.yaml")
	if err != nil || len(pod) != 1 {
		t.Fatalf("the static pod: %v", err)
	}
	var hostPaths []string
	volumes, _, _ := unstructuredSlice(pod[0].Object, "spec", "volumes")
	for _, v := range volumes {
		if hp, ok := v.(map[string]any)["hostPath"].(map[string]any); ok {
			hostPaths = append(hostPaths, hp["path"].(string))
		}
	}
	if !slices.Contains(hostPaths, m[1]) {
		t.Errorf("kind mounts the config at %s; the static pod's hostPath volumes are %v", m[1], hostPaths)
	}
	if !strings.Contains(up, "kubectl --context \"$ctx\" apply -k manifests/rebalancer/replace") {
		t.Error("hack/kind-up.sh does not deploy the rebalancer of replace mode (manifests/rebalancer/replace)")
	}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

// TestKindNodeImageIsGoModVersion: the node image `make kind-up` creates the cluster with is the
// kind project's kindest/node of the Kubernetes version go.mod pins (the scheduler may not be
// newer than its API server), and hack/kind-up.sh creates the cluster with it.
func TestKindNodeImageIsGoModVersion(t *testing.T) {
	root := repoRoot(t)
	mod, err := modfile.ParseLax("go.mod", []byte(read(t, "go.mod")), nil)
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, r := range mod.Require {
		if r.Mod.Path == "k8s.io/kubernetes" {
			want = r.Mod.Version
		}
	}
	if want == "" {
		t.Fatal("go.mod requires no k8s.io/kubernetes")
	}
	cmd := exec.Command("make", "--no-print-directory", "-s", "kind-node-image")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make kind-node-image: %v", err)
	}
	image := strings.TrimSpace(string(out))
	ref, _, _ := strings.Cut(image, "@") // a digest may follow the tag
	repo, tag, _ := strings.Cut(ref, ":")
	if repo != "kindest/node" || tag != want {
		t.Errorf("kind node image %q, want kindest/node:%s (go.mod's k8s.io/kubernetes)", image, want)
	}
	if up := read(t, "hack/kind-up.sh"); !strings.Contains(up, `--image "$node_image"`) || !strings.Contains(up, "KIND_NODE_IMAGE") {
		t.Error("hack/kind-up.sh does not create the cluster with KIND_NODE_IMAGE")
	}
	if mk := read(t, "Makefile"); !regexp.MustCompile(`KIND_NODE_IMAGE=\$\(KIND_NODE_IMAGE\) .*hack/kind-up\.sh`).MatchString(mk) {
		t.Error("make kind-up does not pass KIND_NODE_IMAGE to hack/kind-up.sh")
	}
}

// TestKindWorkersAreE2ENodes: test/e2e runs on the nodes labelled e2e.likewise.dev/node=true, at
// least three: kind's workers carry the label, as the local cluster's e2e nodes do.
func TestKindWorkersAreE2ENodes(t *testing.T) {
	up := read(t, "hack/kind-up.sh")
	m := regexp.MustCompile(`(?s)<<KIND\n(.*?)\nKIND\n`).FindStringSubmatch(up)
	if m == nil {
		t.Fatal("hack/kind-up.sh: no kind cluster config (<<KIND ... KIND)")
	}
	var cfg struct {
		Nodes []struct {
			Role   string            `json:"role"`
			Labels map[string]string `json:"labels"`
		} `json:"nodes"`
	}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(m[1], "$(pwd)", "/repo")), &cfg); err != nil {
		t.Fatalf("hack/kind-up.sh's kind config: %v", err)
	}
	const label = "e2e.likewise.dev/node"
	labelled := 0
	for _, n := range cfg.Nodes {
		if n.Role == "worker" && n.Labels[label] == "true" {
			labelled++
		}
	}
	if labelled < 3 {
		t.Errorf("hack/kind-up.sh: %d workers labelled %s=true, want at least 3 (test/e2e needs them)", labelled, label)
	}
	for _, f := range []string{"test/e2e/main_test.go", "test/integration/e2e/e2e_test.go"} {
		if !strings.Contains(read(t, f), `"`+label+`"`) {
			t.Errorf("%s does not use the label %s", f, label)
		}
	}
}
