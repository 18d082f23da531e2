package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import",
		Short: "import (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("import: not yet implemented")
		},
	}
}
