package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newOrgCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "org",
		Short: "org (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("org: not yet implemented")
		},
	}
}
