package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

// newValidateCmd is `kizuna validate FILE...`: STIX 2.1 validation of
// bundles, TAXII envelopes, JSON arrays and single objects.
func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Validate STIX 2.1 bundles, envelopes, arrays or objects (- for stdin)",
		Long: `Validate checks every object of each input against the STIX 2.1 rules
(required properties, types, identifiers, timestamps, references, vocabularies
that are closed, extensions, indicator patterns) and the bundle around them.
Inputs may be gzip-compressed; - reads stdin.

Each problem is printed on stdout as
  FILE: OBJECT_ID: PROPERTY: MESSAGE
(PROPERTY is "-" for problems of the whole object); a summary goes to stderr.
Exit status: 0 all valid, 1 some object or input invalid, 2 usage or I/O error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &exitError{code: 2, msg: "validate: at least one FILE (or - for stdin) is required"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			v := validator{out: bufio.NewWriter(cmd.OutOrStdout()), stderr: cmd.ErrOrStderr()}
			ioFailed := false
			for _, name := range args {
				if err := v.file(name, cmd.InOrStdin()); err != nil {
					ioFailed = true
					fmt.Fprintf(v.stderr, "kizuna: validate: %v\n", err)
				}
			}
			if err := v.out.Flush(); err != nil {
				return &exitError{code: 2, msg: "validate: writing output: " + err.Error()}
			}
			fmt.Fprintf(v.stderr, "kizuna: validate: %d objects in %d inputs: %d invalid objects, %d malformed inputs, %d problems\n",
				v.objects, len(args), v.invalid, v.malformed, v.problems)
			switch {
			case ioFailed:
				return &exitError{code: 2}
			case v.invalid > 0 || v.malformed > 0:
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

// validator accumulates counts over the inputs of one run.
type validator struct {
	out                        *bufio.Writer
	stderr                     io.Writer
	objects, invalid, problems int
	malformed                  int // inputs that are not well-formed STIX JSON
}

// file validates one input; the error is an I/O problem (exit status 2).
func (v *validator) file(name string, stdin io.Reader) error {
	var r io.Reader
	if name == "-" {
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	envErrs, err := stix.ValidateInput(r, func(i int, o *stix.Object, errs []*stix.Error) error {
		v.objects++
		if len(errs) == 0 {
			return nil
		}
		v.invalid++
		for _, e := range errs {
			v.report(name, i, e)
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, stix.ErrInvalidInput) {
			return fmt.Errorf("%s: %w", name, err)
		}
		// Malformed JSON is an invalid input, not an I/O failure.
		v.malformed++
		v.problems++
		fmt.Fprintf(v.out, "%s: (input): -: %v\n", name, err)
		return nil
	}
	if len(envErrs) > 0 {
		v.malformed++
		for _, e := range envErrs {
			v.report(name, -1, e)
		}
	}
	return nil
}

func (v *validator) report(file string, i int, e *stix.Error) {
	v.problems++
	id := e.ObjectID
	switch {
	case id != "":
	case i >= 0:
		id = fmt.Sprintf("(object %d without id)", i)
	default:
		id = "(bundle without id)"
	}
	prop := e.Property
	if prop == "" {
		prop = "-"
	}
	fmt.Fprintf(v.out, "%s: %s: %s: %s\n", file, id, prop, e.Message)
}
