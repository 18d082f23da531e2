package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "validate (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("validate: not yet implemented")
		},
	}
}
