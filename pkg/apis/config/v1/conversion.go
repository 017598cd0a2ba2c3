package v1

import (
	"k8s.io/apimachinery/pkg/conversion"

	"github.com/likewise-dev/likewise/pkg/apis/config"
)

// The v1 Scores field is a pointer so that a partly written block can be defaulted field by field;
// the internal one is a value because, once defaulted, it is always complete.

// Convert_v1_WorkloadTypeAffinityArgs_To_config_WorkloadTypeAffinityArgs converts v1 args, whose
// nil Scores (only possible before defaulting) becomes all zero.
func Convert_v1_WorkloadTypeAffinityArgs_To_config_WorkloadTypeAffinityArgs(in *WorkloadTypeAffinityArgs, out *config.WorkloadTypeAffinityArgs, s conversion.Scope) error {
	if err := autoConvert_v1_WorkloadTypeAffinityArgs_To_config_WorkloadTypeAffinityArgs(in, out, s); err != nil {
		return err
	}
	out.Scores = config.NodeClassScores{}
	if in.Scores != nil {
		return Convert_v1_NodeClassScores_To_config_NodeClassScores(in.Scores, &out.Scores, s)
	}
	return nil
}

// Convert_config_WorkloadTypeAffinityArgs_To_v1_WorkloadTypeAffinityArgs converts internal args.
func Convert_config_WorkloadTypeAffinityArgs_To_v1_WorkloadTypeAffinityArgs(in *config.WorkloadTypeAffinityArgs, out *WorkloadTypeAffinityArgs, s conversion.Scope) error {
	if err := autoConvert_config_WorkloadTypeAffinityArgs_To_v1_WorkloadTypeAffinityArgs(in, out, s); err != nil {
		return err
	}
	out.Scores = &NodeClassScores{}
	return Convert_config_NodeClassScores_To_v1_NodeClassScores(&in.Scores, out.Scores, s)
}
