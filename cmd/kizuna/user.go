package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newUserCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "user",
		Short: "user (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("user: not yet implemented")
		},
	}
}
