package metrics_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/likewise-dev/likewise/pkg/classifier/controller"
)

// reference is the operator's reference of every metric and Event reason.
const reference = "../../docs/operations.md"

// Packages whose Event reasons the reference lists: every string const named Reason* or
// reason* (Event reasons), and every ErrReason* (status messages, up to their first verb).
var reasonPackages = []string{
	"../classifier/controller",
	"../rebalancer",
	"../plugins/workloadtypeaffinity",
	"../plugins/notebookspread",
}

// TestReferenceListsEveryMetric parses metrics.go: every metric's full name must be in the
// reference, in backquotes.
func TestReferenceListsEveryMetric(t *testing.T) {
	doc := readReference(t)
	consts, lits := parse(t, ".")
	var names []string
	for _, lit := range lits {
		fields := map[string]string{}
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			key, ok := kv.Key.(*ast.Ident)
			if !ok {
				continue
			}
			fields[key.Name] = valueOf(kv.Value, consts)
		}
		if fields["Name"] == "" {
			continue
		}
		names = append(names, strings.Join([]string{fields["Namespace"], fields["Subsystem"], fields["Name"]}, "_"))
	}
	if len(names) < 12 {
		t.Fatalf("found %d metrics in metrics.go (%v): the parser missed some", len(names), names)
	}
	for _, n := range names {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("metric %s is not in %s", n, reference)
		}
	}
}

// TestReferenceListsEveryEventReason: every Event reason const, every classifier Failure and
// every plugin status message is in the reference.
func TestReferenceListsEveryEventReason(t *testing.T) {
	doc := readReference(t)
	want := map[string]string{} // text -> where it comes from
	for _, f := range controller.Failures {
		want["`"+f.Reason+"`"] = "controller.Failures"
	}
	for _, dir := range reasonPackages {
		consts, _ := parse(t, dir)
		for name, value := range consts {
			switch {
			case strings.HasPrefix(name, "ErrReason"):
				msg, _, _ := strings.Cut(value, "%")
				if len(msg) > 40 {
					msg = msg[:40]
				}
				want[msg] = dir + "." + name
			case strings.HasPrefix(name, "Reason"), strings.HasPrefix(name, "reason"):
				want["`"+value+"`"] = dir + "." + name
			}
		}
	}
	if len(want) < 50 {
		t.Fatalf("found %d reasons: the parser missed some", len(want))
	}
	for text, from := range want {
		if !strings.Contains(doc, text) {
			t.Errorf("%s (%s) is not in %s", text, from, reference)
		}
	}
}

func readReference(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(reference)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// parse returns the string consts of the package in dir (tests left out) and the composite
// literals of *Opts types (the metrics' options).
func parse(t *testing.T, dir string) (map[string]string, []*ast.CompositeLit) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	consts := map[string]string{}
	var lits []*ast.CompositeLit
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") || strings.HasPrefix(filepath.Base(path), "zz_generated") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GenDecl:
				if n.Tok != token.CONST {
					return true
				}
				for _, spec := range n.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, id := range vs.Names {
						if i < len(vs.Values) {
							if v := valueOf(vs.Values[i], consts); v != "" {
								consts[id.Name] = v
							}
						}
					}
				}
			case *ast.CompositeLit:
				if u, ok := n.Type.(*ast.SelectorExpr); ok && strings.HasSuffix(u.Sel.Name, "Opts") {
					lits = append(lits, n)
				}
			}
			return true
		})
	}
	return consts, lits
}

// valueOf is a string literal's value, or a const's already parsed.
func valueOf(e ast.Expr, consts map[string]string) string {
	switch v := e.(type) {
	case *ast.BasicLit:
		if v.Kind == token.STRING {
			s, err := strconv.Unquote(v.Value)
			if err == nil {
				return s
			}
		}
	case *ast.Ident:
		return consts[v.Name]
	}
	return ""
}
