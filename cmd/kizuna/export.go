package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "export (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("export: not yet implemented")
		},
	}
}
