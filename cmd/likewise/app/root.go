// Package app builds the likewise command. Each subcommand lives in its own file and is listed
// in NewCommand.
package app

import (
	"github.com/spf13/cobra"
)

// NewCommand returns the likewise root command with every subcommand.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "likewise",
		Short: "likewise places PostgreSQL and notebook pods by their workload",
		Long: `likewise places PostgreSQL and notebook pods by their workload.

Its scheduler is the likewise-scheduler binary; this command runs the other roles and tools.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	// One line per subcommand; add yours here.
	cmd.AddCommand(
		newClassifyCommand(),
		newClassifierCommand(),
		newExplainCommand(),
		newRebalancerCommand(),
		newVersionCommand(),
	)
	return cmd
}
