package validation

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	configv1 "github.com/likewise-dev/likewise/pkg/apis/config/v1"
)

// argsPath is where the fuzz targets place the args, as kube-scheduler does for a profile.
var argsPath = field.NewPath("profiles").Key("p").Child("pluginConfig").Key("X").Child("args")

// fieldErrors returns the *field.Error items of a Validate<X>Args error, failing the test if the
// error is anything else: every rejection must be a field error with its path under argsPath.
func fieldErrors(t *testing.T, err error) []*field.Error {
	t.Helper()
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		t.Fatalf("error %q is not an aggregate of field errors", err)
	}
	var out []*field.Error
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Fatalf("error %q is not a field error", e)
		}
		if !strings.HasPrefix(fe.Field, argsPath.String()+".") {
			t.Errorf("error %q: field %q is not under %s", fe, fe.Field, argsPath)
		}
		if !strings.Contains(err.Error(), fe.Field) {
			t.Errorf("error %q does not name its field %q", err, fe.Field)
		}
		out = append(out, fe)
	}
	return out
}

// optional returns a pointer to v when set, nil otherwise: an unset field is defaulted.
func optional[T any](set bool, v T) *T {
	if !set {
		return nil
	}
	return &v
}

// FuzzValidateWorkloadTypeAffinityArgs feeds arbitrary field values through defaulting,
// conversion and validation, as a config file's args take: no panic, every rejection names a
// field, and the args accepted are exactly those within the documented limits.
func FuzzValidateWorkloadTypeAffinityArgs(f *testing.F) {
	// The shipped configs' args (manifests/scheduler): mode and two scores, or mode alone.
	f.Add("Preferred", uint8(0b00011), int32(100), int32(50), int32(0), int32(0), int32(0))
	f.Add("Preferred", uint8(0), int32(0), int32(0), int32(0), int32(0), int32(0))
	f.Add("Required", uint8(0b11111), int32(100), int32(50), int32(20), int32(0), int32(51))
	f.Add("", uint8(0b10000), int32(0), int32(0), int32(0), int32(0), int32(100))
	// cmd/scheduler/testdata's bad ones.
	f.Add("Strict", uint8(0), int32(0), int32(0), int32(0), int32(0), int32(0))
	f.Add("Preferred", uint8(0b11000), int32(0), int32(0), int32(0), int32(60), int32(40))
	f.Add("Preferred", uint8(0b01111), int32(7), int32(7), int32(7), int32(7), int32(0))
	f.Add("Preferred", uint8(0b00001), int32(-2147483648), int32(0), int32(0), int32(0), int32(0))
	f.Fuzz(func(t *testing.T, mode string, set uint8, sameType, free, mixed, otherType, majority int32) {
		v1args := &configv1.WorkloadTypeAffinityArgs{
			Mode:            configv1.WorkloadTypeAffinityMode(mode),
			MajorityPercent: optional(set&0b10000 != 0, majority),
		}
		if set&0b01111 != 0 {
			v1args.Scores = &configv1.NodeClassScores{
				SameType:  optional(set&0b00001 != 0, sameType),
				Free:      optional(set&0b00010 != 0, free),
				Mixed:     optional(set&0b00100 != 0, mixed),
				OtherType: optional(set&0b01000 != 0, otherType),
			}
		}
		configv1.SetDefaults_WorkloadTypeAffinityArgs(v1args)
		var args config.WorkloadTypeAffinityArgs
		if err := configv1.Convert_v1_WorkloadTypeAffinityArgs_To_config_WorkloadTypeAffinityArgs(v1args, &args, nil); err != nil {
			t.Fatalf("conversion: %v", err)
		}
		err := ValidateWorkloadTypeAffinityArgs(argsPath, &args)

		s := args.Scores
		inRange := func(v int32) bool { return v >= MinScore && int64(v) <= MaxScore }
		valid := (args.Mode == config.ModePreferred || args.Mode == config.ModeRequired) &&
			inRange(s.SameType) && inRange(s.Free) && inRange(s.Mixed) && inRange(s.OtherType) &&
			s.SameType >= s.Free && s.Free >= s.Mixed && s.Mixed >= s.OtherType && s.SameType > s.OtherType &&
			args.MajorityPercent >= MinMajorityPercent && args.MajorityPercent <= MaxMajorityPercent
		if valid {
			if err != nil {
				t.Fatalf("valid args %+v rejected: %v", args, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("invalid args %+v accepted", args)
		}
		for _, fe := range fieldErrors(t, err) {
			name := strings.TrimPrefix(fe.Field, argsPath.String()+".")
			switch name {
			case "mode", "majorityPercent", "scores.sameType", "scores.free", "scores.mixed", "scores.otherType":
			default:
				t.Errorf("error %q names %q, not a field of WorkloadTypeAffinityArgs", fe, name)
			}
		}
	})
}

// FuzzValidateNotebookSpreadArgs does the same for NotebookSpreadArgs, the selector included.
func FuzzValidateNotebookSpreadArgs(f *testing.F) {
	const hub = "hub.jupyter.org/username"
	// The shipped configs' args, then cmd/scheduler/testdata's bad ones.
	f.Add("Spread", uint8(0), "", "", "", "", "", int32(0), int32(0))
	f.Add("Spread", uint8(0b1100000), "", "", "", "", "", int32(0), int32(40))
	f.Add("Pack", uint8(0b1111111), "component", "singleuser-server", hub, hub, "release", int32(-20), int32(30))
	f.Add("Balance", uint8(0b1111111), "", "", "", "", "", int32(150), int32(-1))
	f.Add("Spread", uint8(0b0010000), "", "", "", "", "hub name", int32(0), int32(0))
	f.Add("Spread", uint8(0b0000011), "comp onent", "v", "", "", "", int32(0), int32(0))
	f.Add("Spread", uint8(0b0000001), "", "in (", "", "", "", int32(0), int32(0))
	f.Fuzz(func(t *testing.T, mode string, set uint8, selKey, selValue, userAnnotation, userLabel, hubLabel string, adjustment, maxUsers int32) {
		v1args := &configv1.NotebookSpreadArgs{
			Mode:                   configv1.NotebookSpreadMode(mode),
			UserAnnotation:         optional(set&0b0000100 != 0, userAnnotation),
			UserLabel:              optional(set&0b0001000 != 0, userLabel),
			HubLabel:               optional(set&0b0010000 != 0, hubLabel),
			SameUserNodeAdjustment: optional(set&0b0100000 != 0, adjustment),
			MaxUsersPerNode:        optional(set&0b1000000 != 0, maxUsers),
		}
		switch set & 0b11 {
		case 0b01: // an empty selector, or one label
			v1args.PodSelector = &metav1.LabelSelector{}
			if selKey != "" {
				v1args.PodSelector.MatchLabels = map[string]string{selKey: selValue}
			}
		case 0b10, 0b11:
			v1args.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: selKey, Operator: metav1.LabelSelectorOperator(selValue), Values: []string{selValue},
			}}}
		}
		configv1.SetDefaults_NotebookSpreadArgs(v1args)
		if v1args.PodSelector == nil || v1args.UserAnnotation == nil || v1args.UserLabel == nil ||
			v1args.HubLabel == nil || v1args.SameUserNodeAdjustment == nil || v1args.MaxUsersPerNode == nil {
			t.Fatalf("defaulting left a field nil: %+v", v1args)
		}
		var args config.NotebookSpreadArgs
		if err := configv1.Convert_v1_NotebookSpreadArgs_To_config_NotebookSpreadArgs(v1args, &args, nil); err != nil {
			t.Fatalf("conversion: %v", err)
		}
		err := ValidateNotebookSpreadArgs(argsPath, &args)

		// The limits with no selector or key syntax in them; those are left to apimachinery.
		simple := (args.Mode == config.ModeSpread || args.Mode == config.ModePack) &&
			(args.UserAnnotation != "" || args.UserLabel != "") &&
			int64(args.SameUserNodeAdjustment) >= MinSameUserNodeAdjustment && int64(args.SameUserNodeAdjustment) <= MaxSameUserNodeAdjustment &&
			args.MaxUsersPerNode >= MinMaxUsersPerNode && args.MaxUsersPerNode <= MaxMaxUsersPerNode
		if err == nil {
			if !simple {
				t.Fatalf("invalid args %+v accepted", args)
			}
			if len(args.PodSelector.MatchLabels) == 0 && len(args.PodSelector.MatchExpressions) == 0 {
				t.Fatalf("an empty podSelector accepted")
			}
			if _, err := metav1.LabelSelectorAsSelector(args.PodSelector); err != nil {
				t.Fatalf("podSelector %v accepted but does not parse: %v", args.PodSelector, err)
			}
			return
		}
		for _, fe := range fieldErrors(t, err) {
			name := strings.TrimPrefix(fe.Field, argsPath.String()+".")
			if strings.HasPrefix(name, "podSelector") {
				continue
			}
			switch name {
			case "mode", "userAnnotation", "userLabel", "hubLabel", "sameUserNodeAdjustment", "maxUsersPerNode":
			default:
				t.Errorf("error %q names %q, not a field of NotebookSpreadArgs", fe, name)
			}
		}
	})
}
