// Command kizuna is the Kizuna threat-intelligence sharing hub: one binary
// that serves TAXII 2.1 with TLP 2.0 enforced on every read path, and the
// command-line tools around it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/sharing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// KIZUNA_CPUPROFILE=FILE writes a CPU profile of the command (for
	// performance work; see docs/benchmarks.md).
	if f := os.Getenv("KIZUNA_CPUPROFILE"); f != "" {
		if out, err := os.Create(f); err == nil {
			if err := pprof.StartCPUProfile(out); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}

// run executes the CLI and maps errors to exit codes in one place.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	code := exitCode(root.ExecuteContext(ctx), stderr)
	recordCLI(ctx, root, args, code, stderr) // the audit trail (audit.go)
	return code
}

// exitCode maps a command's error to its exit status, printing the message.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintf(stderr, "kizuna: %s\n", ex.msg)
		}
		return ex.code
	}
	fmt.Fprintf(stderr, "kizuna: %v\n", err)
	return 2
}

// exitError carries a specific exit status (and an optional message).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return fmt.Sprintf("exit %d: %s", e.code, e.msg) }

// envOr returns the environment variable's value, or def when unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// policyFor returns the sharing policy configured for this invocation
// (--default-tlp, else KIZUNA_DEFAULT_TLP, else TLP:AMBER). Every command
// that reads or writes objects takes its policy from here, so the CLI and
// the server apply the same rules.
func policyFor(cmd *cobra.Command) (*sharing.Policy, error) {
	v, err := cmd.Flags().GetString("default-tlp")
	if err != nil {
		return nil, err
	}
	t, err := sharing.ParseTLP(v)
	if err != nil {
		return nil, &exitError{code: 2, msg: "--default-tlp: " + err.Error()}
	}
	return sharing.NewPolicy(t), nil
}

// newRootCmd lists every subcommand explicitly.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "kizuna",
		Short:         "Kizuna: threat-intelligence sharing and coordinated response hub",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("default-tlp", envOr("KIZUNA_DEFAULT_TLP", "amber"),
		"TLP level applied to objects without a TLP marking (env KIZUNA_DEFAULT_TLP): clear, green, amber, amber+strict or red")
	root.AddCommand(
		newServeCmd(),
		newDemoCmd(),
		newValidateCmd(),
		newImportCmd(),
		newExportCmd(),
		newOrgCmd(),
		newUserCmd(),
		newTokenCmd(),
		newShareCmd(),
		newPatternCmd(),
		newKeyCmd(),
		newVerifyCmd(),
		newAuditCmd(),
		newMatchCmd(),
		newConstituencyCmd(),
		newRouteCmd(),
		newNotifyCmd(),
		newMISPCmd(),
		newIncidentCmd(),
		newCaseCmd(),
		newVulnCmd(),
		newSBOMCmd(),
		newFeedCmd(),
		newCSAFCmd(),
		newAlertCmd(),
	)
	return root
}
