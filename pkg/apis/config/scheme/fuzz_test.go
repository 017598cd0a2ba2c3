package scheme

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/apis/config/validation"
)

var kindSchedulerConfig = regexp.MustCompile(`(?m)^kind:\s*KubeSchedulerConfiguration\s*$`)

// shippedConfigs returns every KubeSchedulerConfiguration under manifests/ and the scheduler
// command's testdata: the fuzz targets' seeds.
func shippedConfigs(f *testing.F) map[string][]byte {
	f.Helper()
	out := map[string][]byte{}
	for _, dir := range []string{"../../../../manifests", "../../../../cmd/scheduler/testdata"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			data, err := os.ReadFile(path)
			if err == nil && kindSchedulerConfig.Match(data) {
				out[path] = data
			}
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	if len(out) < 5 {
		f.Fatalf("found %d shipped scheduler configs, want the manifests' and cmd/scheduler/testdata's", len(out))
	}
	return out
}

// checkArgs validates the likewise args of every profile as the plugins' New does, and checks
// that each rejection is a field error under the args' path.
func checkArgs(t *testing.T, cfg *schedconfig.KubeSchedulerConfiguration) {
	t.Helper()
	for _, p := range cfg.Profiles {
		for _, pc := range p.PluginConfig {
			path := field.NewPath("profiles").Key(p.SchedulerName).Child("pluginConfig").Key(pc.Name).Child("args")
			var err error
			switch args := pc.Args.(type) {
			case *config.WorkloadTypeAffinityArgs:
				err = validation.ValidateWorkloadTypeAffinityArgs(path, args)
			case *config.NotebookSpreadArgs:
				if args.PodSelector == nil {
					t.Fatalf("profile %s: NotebookSpread args decoded with a nil podSelector", p.SchedulerName)
				}
				err = validation.ValidateNotebookSpreadArgs(path, args)
			default:
				continue
			}
			if err == nil {
				continue
			}
			var agg utilerrors.Aggregate
			if !errors.As(err, &agg) {
				t.Fatalf("error %q is not an aggregate of field errors", err)
			}
			for _, e := range agg.Errors() {
				var fe *field.Error
				if !errors.As(e, &fe) || !strings.HasPrefix(fe.Field, path.String()+".") && fe.Field != path.String() {
					t.Errorf("error %q does not name a field under %s", e, path)
				}
			}
		}
	}
}

// FuzzDecodeKubeSchedulerConfiguration decodes arbitrary bytes with the scheme kube-scheduler
// loads its config file with (ours registered), seeded with every shipped config: decoding never
// panics, and the likewise args of whatever decodes are defaulted and either valid or rejected
// field by field.
func FuzzDecodeKubeSchedulerConfiguration(f *testing.F) {
	for _, data := range shippedConfigs(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, _, err := Codecs.UniversalDecoder().Decode(data, nil, nil)
		if err != nil {
			return
		}
		if cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration); ok {
			checkArgs(t, cfg)
		}
	})
}

const fuzzConfig = `{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
  "profiles": [{"schedulerName": "p", "plugins": {"multiPoint": {"enabled": [{"name": %PLUGIN%}]}},
    "pluginConfig": [{"name": %PLUGIN%, "args": {%FIELD%: %VALUE%}}]}]}`

var argsFields = map[string][]string{
	"WorkloadTypeAffinity": {"mode", "scores", "majorityPercent"},
	"NotebookSpread":       {"mode", "podSelector", "userAnnotation", "userLabel", "hubLabel", "sameUserNodeAdjustment", "maxUsersPerNode"},
}

// FuzzDecodeArgsField sets one field of a plugin's args to an arbitrary JSON value in an
// otherwise valid config: a value of the wrong shape is rejected by the decoder and a bad value
// by validation, and either way the error names the field.
func FuzzDecodeArgsField(f *testing.F) {
	for _, seed := range []struct{ plugin, field, value string }{
		{"WorkloadTypeAffinity", "mode", `"Preferred"`},
		{"WorkloadTypeAffinity", "mode", `"Strict"`},
		{"WorkloadTypeAffinity", "mode", `null`},
		{"WorkloadTypeAffinity", "scores", `{"sameType": 100, "free": 50}`},
		{"WorkloadTypeAffinity", "scores", `{"same": 90}`},
		{"WorkloadTypeAffinity", "scores", `{"mixed": 20, "otherType": 60}`},
		{"WorkloadTypeAffinity", "majorityPercent", `40`},
		{"WorkloadTypeAffinity", "majorityPercent", `"sixty"`},
		{"WorkloadTypeAffinity", "majorityPercent", `1e10`},
		{"WorkloadTypeAffinity", "majority", `60`},
		{"NotebookSpread", "mode", `"Pack"`},
		{"NotebookSpread", "podSelector", `{"matchExpressions": [{"key": "component", "operator": "In", "values": ["singleuser-server"]}]}`},
		{"NotebookSpread", "podSelector", `{}`},
		{"NotebookSpread", "podSelector", `{"matchLabel": {"component": "x"}}`},
		{"NotebookSpread", "userAnnotation", `""`},
		{"NotebookSpread", "hubLabel", `"hub name"`},
		{"NotebookSpread", "sameUserNodeAdjustment", `150`},
		{"NotebookSpread", "maxUsersPerNode", `-1`},
		{"NotebookSpread", "maxUsers", `30`},
	} {
		f.Add(seed.plugin == "NotebookSpread", seed.field, seed.value)
	}
	f.Fuzz(func(t *testing.T, notebook bool, name, value string) {
		if !json.Valid([]byte(value)) {
			return // not a value: the document would not parse, whatever the field
		}
		if !utf8.ValidString(name) {
			return // JSON cannot carry this name: encoding it would replace its bad bytes
		}
		plugin := "WorkloadTypeAffinity"
		if notebook {
			plugin = "NotebookSpread"
		}
		quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		doc := strings.NewReplacer("%PLUGIN%", quoted(plugin), "%FIELD%", quoted(name), "%VALUE%", value).Replace(fuzzConfig)
		obj, _, err := Codecs.UniversalDecoder().Decode([]byte(doc), nil, nil)
		if err != nil {
			// Case-insensitive: the JSON decoder matches field names so, and strict decoding
			// then reports the spelling given, quoted with Go's escapes.
			if msg := err.Error(); !strings.Contains(strings.ToLower(msg), strings.ToLower(name)) && !strings.Contains(msg, strconv.Quote(name)) {
				t.Fatalf("%s: decoding %s=%s: error %q does not name the field", plugin, name, value, err)
			}
			return
		}
		cfg := obj.(*schedconfig.KubeSchedulerConfiguration)
		checkArgs(t, cfg)
		argsPath := field.NewPath("profiles").Key("p").Child("pluginConfig").Key(plugin).Child("args")
		path := argsPath.String() + "."
		var err2 error
		switch args := cfg.Profiles[0].PluginConfig[0].Args.(type) {
		case *config.WorkloadTypeAffinityArgs:
			err2 = validation.ValidateWorkloadTypeAffinityArgs(argsPath, args)
		case *config.NotebookSpreadArgs:
			err2 = validation.ValidateNotebookSpreadArgs(argsPath, args)
		default:
			t.Fatalf("args decoded as %T", args)
		}
		if err2 == nil {
			return
		}
		// Every other field is defaulted, so the one set is the one at fault. WorkloadTypeAffinity's
		// scores are checked against each other: any of them may be named.
		var agg utilerrors.Aggregate
		errors.As(err2, &agg)
		for _, e := range agg.Errors() {
			var fe *field.Error
			errors.As(e, &fe)
			got := strings.TrimPrefix(fe.Field, path)
			if got != name && !strings.HasPrefix(got, name+".") && !strings.HasPrefix(got, name+"[") &&
				!strings.EqualFold(got, name) && !strings.HasPrefix(strings.ToLower(got), strings.ToLower(name)+".") {
				t.Errorf("%s: %s=%s: error %q names %q, not the field set", plugin, name, value, e, got)
			}
		}
	})
}
