package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: the real command replaces this file.
func newShareCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "share",
		Short: "share (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("share: not yet implemented")
		},
	}
}
