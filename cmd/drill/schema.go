package main

import (
	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
)

func init() { addCommand(newSchemaCmd) }

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of plan files (what plans/schema.json holds)",
		Long: `Schema prints the JSON Schema of drill plans, generated from the Go types.
Point your editor's YAML language server at it:
  # yaml-language-server: $schema=../plans/schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := plan.Schema()
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}
