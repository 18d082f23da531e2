package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newPatternCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pattern",
		Short: "pattern (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("pattern: not yet implemented")
		},
	}
}
