// Package validation checks likewise's plugin args. Each function returns every problem at once,
// each naming its field path and, for enums, the valid values.
package validation

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis/config"
)

// Limits of WorkloadTypeAffinityArgs.
const (
	MinScore           = 0
	MaxScore           = fwk.MaxNodeScore
	MinMajorityPercent = 51
	MaxMajorityPercent = 100
)

var supportedModes = []string{string(config.ModePreferred), string(config.ModeRequired)}

// ValidateWorkloadTypeAffinityArgs validates defaulted args; path is where they sit in the
// configuration (nil at the top).
func ValidateWorkloadTypeAffinityArgs(path *field.Path, args *config.WorkloadTypeAffinityArgs) error {
	var errs field.ErrorList
	switch args.Mode {
	case config.ModePreferred, config.ModeRequired:
	default:
		errs = append(errs, field.NotSupported(path.Child("mode"), args.Mode, supportedModes))
	}
	errs = append(errs, validateScores(path.Child("scores"), args.Scores)...)
	if p := args.MajorityPercent; p < MinMajorityPercent || p > MaxMajorityPercent {
		errs = append(errs, field.Invalid(path.Child("majorityPercent"), p, fmt.Sprintf(
			"must be between %d and %d: a node needs a strict majority of one type to have that type", MinMajorityPercent, MaxMajorityPercent)))
	}
	return errs.ToAggregate()
}

func validateScores(path *field.Path, s config.NodeClassScores) field.ErrorList {
	var errs field.ErrorList
	fields := []struct {
		name  string
		value int32
	}{
		{"sameType", s.SameType},
		{"free", s.Free},
		{"mixed", s.Mixed},
		{"otherType", s.OtherType},
	}
	for _, f := range fields {
		if f.value < MinScore || int64(f.value) > MaxScore {
			errs = append(errs, field.Invalid(path.Child(f.name), f.value, fmt.Sprintf("must be between %d and %d", MinScore, MaxScore)))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// The order is the plugin's whole point: a pod must never prefer a node of the other type.
	for i := 1; i < len(fields); i++ {
		if fields[i].value > fields[i-1].value {
			errs = append(errs, field.Invalid(path.Child(fields[i].name), fields[i].value,
				"must not exceed "+fields[i-1].name+": scores must not increase from sameType to free to mixed to otherType"))
		}
	}
	if s.SameType == s.OtherType {
		errs = append(errs, field.Invalid(path.Child("sameType"), s.SameType, "must exceed otherType, or the plugin has no effect"))
	}
	return errs
}

// Limits of NotebookSpreadArgs.
const (
	MinSameUserNodeAdjustment = -fwk.MaxNodeScore
	MaxSameUserNodeAdjustment = fwk.MaxNodeScore
	MinMaxUsersPerNode        = 0
	// MaxMaxUsersPerNode is far above any node's pod limit; a larger value is a typo.
	MaxMaxUsersPerNode = 10000
)

var supportedNotebookModes = []string{string(config.ModeSpread), string(config.ModePack)}

// ValidateNotebookSpreadArgs validates defaulted args; path is where they sit in the
// configuration (nil at the top).
func ValidateNotebookSpreadArgs(path *field.Path, args *config.NotebookSpreadArgs) error {
	var errs field.ErrorList
	switch args.Mode {
	case config.ModeSpread, config.ModePack:
	default:
		errs = append(errs, field.NotSupported(path.Child("mode"), args.Mode, supportedNotebookModes))
	}
	errs = append(errs, validatePodSelector(path.Child("podSelector"), args.PodSelector)...)
	if args.UserAnnotation == "" && args.UserLabel == "" {
		errs = append(errs, field.Required(path.Child("userAnnotation"), "userAnnotation or userLabel must name the key that holds the user"))
	}
	for _, k := range []struct {
		name, value string
	}{
		{"userAnnotation", args.UserAnnotation},
		{"userLabel", args.UserLabel},
		{"hubLabel", args.HubLabel},
	} {
		if k.value == "" {
			continue
		}
		for _, msg := range validation.IsQualifiedName(k.value) {
			errs = append(errs, field.Invalid(path.Child(k.name), k.value, msg))
		}
	}
	if a := args.SameUserNodeAdjustment; int64(a) < MinSameUserNodeAdjustment || int64(a) > MaxSameUserNodeAdjustment {
		errs = append(errs, field.Invalid(path.Child("sameUserNodeAdjustment"), a, fmt.Sprintf(
			"must be between %d and %d: it is a share of the plugin's 0-%d score", MinSameUserNodeAdjustment, MaxSameUserNodeAdjustment, fwk.MaxNodeScore)))
	}
	if m := args.MaxUsersPerNode; m < MinMaxUsersPerNode || m > MaxMaxUsersPerNode {
		errs = append(errs, field.Invalid(path.Child("maxUsersPerNode"), m, fmt.Sprintf(
			"must be between %d (no cap) and %d", MinMaxUsersPerNode, MaxMaxUsersPerNode)))
	}
	return errs.ToAggregate()
}

func validatePodSelector(path *field.Path, s *metav1.LabelSelector) field.ErrorList {
	if s == nil {
		return field.ErrorList{field.Required(path, "")}
	}
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return field.ErrorList{field.Invalid(path, "{}", "must not be empty: an empty selector makes every pod a notebook server")}
	}
	errs := metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, path)
	if len(errs) > 0 {
		return errs
	}
	if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
		errs = append(errs, field.Invalid(path, metav1.FormatLabelSelector(s), err.Error()))
	}
	return errs
}
