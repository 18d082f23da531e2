package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "token",
		Short: "token (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("token: not yet implemented")
		},
	}
}
