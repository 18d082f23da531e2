package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// newPatternCmd groups the STIX patterning tools.
func newPatternCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pattern",
		Short: "Check STIX 2.1 patterns and match them against observed-data",
	}
	cmd.AddCommand(newPatternCheckCmd())
	return cmd
}

func newPatternCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check PATTERN",
		Short: "Check the syntax of a STIX 2.1 pattern (exit 0 valid, 1 invalid)",
		Long: "Parse a STIX 2.1 pattern and run the OASIS validator's semantic checks.\n" +
			"A valid pattern is printed back in canonical form; an invalid one is\n" +
			"reported on stderr with a caret under the position at fault (exit 1).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pattern.Parse(args[0])
			if err != nil {
				return &exitError{code: 1, msg: describePatternError(args[0], err)}
			}
			fmt.Fprintln(cmd.OutOrStdout(), p.String())
			return nil
		},
	}
}

// describePatternError renders err with the line of src at fault and a
// caret under the offending character.
func describePatternError(src string, err error) string {
	pos := pattern.ErrPosition(err)
	if pos < 0 || pos > len(src) {
		return err.Error()
	}
	lineStart := strings.LastIndexAny(src[:pos], "\r\n") + 1
	lineEnd := len(src)
	if i := strings.IndexAny(src[pos:], "\r\n"); i >= 0 {
		lineEnd = pos + i
	}
	line := src[lineStart:lineEnd]
	var pad strings.Builder
	for _, r := range src[lineStart:pos] {
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	return fmt.Sprintf("%v\n  %s\n  %s^", err, line, pad.String())
}
