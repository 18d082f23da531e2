package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/pattern"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// newPatternCmd groups the STIX patterning tools.
func newPatternCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pattern",
		Short: "Check STIX 2.1 patterns and match them against observed-data",
	}
	cmd.AddCommand(newPatternCheckCmd(), newPatternMatchCmd())
	return cmd
}

func newPatternMatchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "match PATTERN OBSERVED.json",
		Short: "Match a STIX 2.1 pattern against observed-data (exit 0 match, 1 no match, 2 error)",
		Long: "Match a STIX 2.1 pattern against the observed-data in a file (\"-\" reads stdin):\n" +
			"a bundle, a TAXII envelope, a JSON array of objects or bundles, or a single object.\n" +
			"Each observed-data is one observation of the SCOs its object_refs name; a file\n" +
			"without observed-data has each object matched as an observation of its own.\n" +
			"Prints \"match\" (exit 0) or \"no match\" (exit 1); errors exit 2.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pattern.Parse(args[0])
			if err != nil {
				return &exitError{code: 2, msg: describePatternError(args[0], err)}
			}
			objs, err := readObservedFile(cmd, args[1])
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			obs, err := pattern.ObservationsFromObjects(objs)
			if err != nil {
				return &exitError{code: 2, msg: fmt.Sprintf("%s: %v", args[1], err)}
			}
			ok, err := p.Match(obs)
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			if !ok {
				fmt.Fprintln(cmd.OutOrStdout(), "no match")
				return &exitError{code: 1}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "match")
			return nil
		},
	}
}

// readObservedFile reads the STIX objects of name ("-" is stdin), opening
// any bundles found inside a JSON array.
func readObservedFile(cmd *cobra.Command, name string) ([]map[string]any, error) {
	var r io.Reader = cmd.InOrStdin()
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var objs []map[string]any
	var add func(m map[string]any)
	add = func(m map[string]any) {
		if list, ok := m["objects"].([]any); ok && m["type"] == "bundle" {
			for _, o := range list {
				if om, ok := o.(map[string]any); ok {
					add(om)
				}
			}
			return
		}
		objs = append(objs, m)
	}
	err := stix.ReadObjects(r, func(i int, raw json.RawMessage) error {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || m == nil {
			return fmt.Errorf("%s: object %d: not a JSON object", name, i)
		}
		add(m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return objs, nil
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
