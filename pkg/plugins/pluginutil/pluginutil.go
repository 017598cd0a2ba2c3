// Package pluginutil holds what every likewise scheduler plugin does the same way: where its args
// sit in the configuration, reading its cycle state, and keeping what it derives from each node
// across cycles (NodeCache).
package pluginutil

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	fwk "k8s.io/kube-scheduler/framework"
)

// ArgsPath is the field path of a plugin's args in the handle's profile, e.g.
// profiles[likewise-scheduler].pluginConfig[WorkloadTypeAffinity].args, so that a validation
// error names where the bad value is written.
func ArgsPath(h fwk.Handle, plugin string) *field.Path {
	return field.NewPath("profiles").Key(h.ProfileName()).Child("pluginConfig").Key(plugin).Child("args")
}

// ReadState returns the data an earlier extension point of this cycle stored under key.
func ReadState[T fwk.StateData](state fwk.CycleState, key fwk.StateKey) (T, error) {
	var zero T
	c, err := state.Read(key)
	if err != nil {
		return zero, fmt.Errorf("reading %q from cycle state: %w", key, err)
	}
	s, ok := c.(T)
	if !ok {
		return zero, fmt.Errorf("%q in cycle state has type %T, want %T", key, c, zero)
	}
	return s, nil
}
