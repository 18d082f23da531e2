package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	kizuna "github.com/kizuna-cti/kizuna"
	"github.com/kizuna-cti/kizuna/internal/demo"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// newDemoCmd is `kizuna demo`: a ready-to-try hub with organisations, users,
// tokens and real public data, served until interrupted.
func newDemoCmd() *cobra.Command {
	var dataDir, listen string
	cmd := &cobra.Command{
		Use:   "demo [--data DIR] [--listen HOST:PORT]",
		Short: "Set up a demonstration hub with real public data and serve it",
		Long: `Demo creates (or reuses) a data directory with the hub organisation, six
member organisations (a ministry, an electric utility, a city, a university,
an SME and a partner CERT) with users of every role, loads the shipped public
data (ATT&CK for ICS, CISA KEV, IPsum and Maltrail indicators, OASIS examples)
over every TLP level, issues a fresh token per user and serves TAXII 2.1 until
interrupted. On a loopback address it serves plain HTTP; elsewhere TLS with a
self-signed certificate kept in the data directory. Re-running reuses the
directory and issues new tokens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return &exitError{code: 2, msg: fmt.Sprintf("demo: --listen %q: want HOST:PORT", listen)}
			}
			st, err := sqlite.Open(ctx, dataDir)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			defer st.Close()
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			data, err := fs.Sub(kizuna.DemoData, "testdata/demo")
			if err != nil {
				return fmt.Errorf("demo: shipped data: %w", err)
			}
			info, err := demo.Setup(ctx, st, policy, data, log)
			if err != nil {
				return err
			}
			for _, f := range info.Failures {
				fmt.Fprintf(stderr, "kizuna: demo: %s\n", f.Error())
			}
			srv, err := server.New(server.Config{
				Listen:       listen,
				InsecureHTTP: server.IsLoopback(host),
				DataDir:      dataDir,
				Store:        st,
				Policy:       policy,
				Log:          log,
				HubOrgID:     info.Orgs[0].ID,
			})
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			if err := srv.Start(ctx); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			printDemo(stdout, dataDir, srv.URL(), info)
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./kizuna-demo", "data directory (created or reused)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "listen address HOST:PORT")
	return cmd
}

// printDemo prints the URL, the tokens and curl examples.
func printDemo(w io.Writer, dataDir, url string, info demo.Info) {
	fmt.Fprintf(w, "Kizuna demo hub: %s (data: %s)\n", url, dataDir)
	fmt.Fprintf(w, "%d objects loaded into collection %s (%d refused)\n\n", info.Imported, store.DefaultCollectionID, info.Failed)
	fmt.Fprintln(w, "Tokens (issued anew on every run):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TOKEN\tROLE\tUSER\tORGANISATION")
	for _, c := range info.Credentials {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s (%s)\n", c.Token, c.User.Role, c.User.Name, c.Org.Name, c.Org.Type)
	}
	tw.Flush()
	tok := func(org, user string) string {
		for _, c := range info.Credentials {
			if c.Org.ID == org && c.User.Name == user {
				return c.Token
			}
		}
		return ""
	}
	specs := demo.Orgs()
	cert, city, utility := specs[6], specs[3], specs[2]
	objects := fmt.Sprintf("%s/taxii2/%s/collections/%s/objects/", url, store.DefaultAPIRoot, store.DefaultCollectionID)
	accept := `-H 'Accept: application/taxii+json;version=2.1'`
	k := "-g " // no URL globbing: match[type] has brackets
	if len(url) > 5 && url[:5] == "https" {
		k = "-g -k "
	}
	fmt.Fprintf(w, `
Try (each organisation sees what TLP 2.0 and the named distributions allow):

  # discovery
  curl %s%s -H 'Authorization: Bearer %s' %s/taxii2/
  # indicators the partner CERT may see (including the utility's TLP:AMBER+STRICT ones)
  curl %s%s -H 'Authorization: Bearer %s' '%s?match[type]=indicator'
  # the same for the city: no AMBER+STRICT, no RED
  curl %s%s -H 'Authorization: Bearer %s' '%s?match[type]=indicator'
  # TLP:RED indicators reach only the named users (here the utility's admin)
  curl %s%s -H 'Authorization: Bearer %s' '%s?match[type]=indicator'
  # public TLP:CLEAR data, no token
  curl %s%s/public/clear

Press Ctrl+C to stop.
`,
		k, accept, tok(cert.Org.ID, cert.Users[0].Name), url,
		k, accept, tok(cert.Org.ID, cert.Users[0].Name), objects,
		k, accept, tok(city.Org.ID, city.Users[0].Name), objects,
		k, accept, tok(utility.Org.ID, utility.Users[0].Name), objects,
		k, url)
}
