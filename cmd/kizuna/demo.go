package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "demo (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("demo: not yet implemented")
		},
	}
}
