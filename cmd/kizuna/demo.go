package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	kizuna "github.com/kizuna-cti/kizuna"
	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/demo"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/response/alert/collection"
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
interrupted. It also registers the organisations' constituencies
(DIR/constituency.db), a signing key of the partner CERT (DIR/demo/cert.key),
loads OSV and KEV records and the utility's SCADA gateway SBOM into
DIR/vuln.db, publishes a TLP:WHITE CSAF advisory and files the SME's
anonymous incident report (DIR/cases.db), and prints examples for each.
On a loopback address it serves plain HTTP; elsewhere TLS with a
self-signed certificate kept in the data directory. Re-running reuses the
directory and issues new tokens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if _, _, err := net.SplitHostPort(listen); err != nil {
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
			svc, err := demo.OpenServices(ctx, dataDir, st, log)
			if err != nil {
				return err
			}
			defer svc.Close()
			info, err := demo.Setup(ctx, st, policy, data, svc, log)
			if err != nil {
				return err
			}
			for _, f := range info.Failures {
				fmt.Fprintf(stderr, "kizuna: demo: %s\n", f.Error())
			}
			hubID := info.Orgs[0].ID
			led, err := ledger.Open(ctx, dataDir, st, policy, log, ledger.Options{HubIdentity: hubID}) // DIR/translog.db
			if err != nil {
				return fmt.Errorf("demo: transparency log: %w", err)
			}
			defer led.Close()
			cfg := demo.ServerConfig(listen, st, policy, svc, led, hubID, log)
			utility, city := demo.Orgs()[2].Org, demo.Orgs()[3]
			al, hookURL, err := startDemoAlerting(ctx, dataDir, st, policy, svc.Cases, svc.Vuln, svc.Notifications, utility.ID, city.Org.ID, stdout, log) // bus, dispatcher, rules and a receiver
			if err != nil {
				return err
			}
			defer func() {
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				al.close(actx)
			}()
			cfg.Store, cfg.Alerts = al.publisher.Store(cfg.Store), al.dispatcher
			cfg.AllowPrivateWebhooks = true                                                                       // the demo's receiver is on loopback
			sources, closeSources := vulnSourceRunner(ctx, dataDir, cfg.Store, policy, led, hubID, svc.Vuln, log) // /api/v1/vuln/sources
			defer closeSources()
			cfg.VulnSources = sources
			trail, err := audit.Open(ctx, dataDir, audit.Options{HubIdentity: hubID, Log: log}) // DIR/audit.db
			if err != nil {
				return fmt.Errorf("demo: audit trail: %w", err)
			}
			defer trail.Close()
			cfg.Audit = trail
			srv, err := server.New(cfg)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			if err := srv.Start(ctx); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			printDemo(stdout, dataDir, srv.URL(), info)
			collURL := fmt.Sprintf("%s/taxii2/%s/collections/%s/objects/", srv.URL(), store.DefaultAPIRoot, collection.ID(city.Org.ID))
			k := ""
			if strings.HasPrefix(srv.URL(), "https") {
				k = "-k "
			}
			printDemoAlerting(stdout, dataDir, utility.Name, hookURL, city.Org.Name, collURL, demoToken(info, city.Org.ID, city.Users[0].Name), k)
			printDemoIntel(stdout, dataDir, srv.URL(), city.Org.Name, demoToken(info, city.Org.ID, city.Users[0].Name), k)
			// The partner CERT shares an indicator about the city's portal (after the explanation, so
			// the utility's webhook line follows it): routed by constituency, it notifies the city.
			if err := demo.ShareIntel(ctx, &ingest.Pipeline{Store: cfg.Store, Policy: policy, Log: log, HubOrgID: hubID, Recorder: led}, log); err != nil {
				fmt.Fprintf(stderr, "kizuna: demo: %v\n", err)
			}
			fmt.Fprintln(stdout, "\nPress Ctrl+C to stop.")
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

// demoToken returns the token issued to user of organisation org ("" if
// none).
func demoToken(info demo.Info, org, user string) string {
	for _, c := range info.Credentials {
		if c.Org.ID == org && c.User.Name == user {
			return c.Token
		}
	}
	return ""
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
	tok := func(org, user string) string { return demoToken(info, org, user) }
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
`,
		k, accept, tok(cert.Org.ID, cert.Users[0].Name), url,
		k, accept, tok(cert.Org.ID, cert.Users[0].Name), objects,
		k, accept, tok(city.Org.ID, city.Users[0].Name), objects,
		k, accept, tok(utility.Org.ID, utility.Users[0].Name), objects,
		k, url)
	if info.Extras != nil {
		printDemoServices(w, dataDir, url, k, tok, info)
	}
	hub := specs[0]
	fmt.Fprintf(w, `
Audit trail (%s/audit.db, under its own transparency log): every request above is recorded
  kizuna audit list --data %s --limit 20          # also --org --user --action --interface --object --since
  curl %s-H 'Authorization: Bearer %s' '%s/api/v1/audit?interface=taxii&limit=5'
  kizuna audit verify --data %s                  # objects and audit records against their logs
  kizuna export --data %s --org '%s' --signed > evidence.json && kizuna verify evidence.json --data %s
`, dataDir, dataDir, k, tok(hub.Org.ID, hub.Users[1].Name), url, dataDir, dataDir, city.Org.Name, dataDir)
}

// printDemoServices prints what Setup seeded beside the store, with
// examples: constituency routing, a signed submission, findings, the CSAF
// provider, the SME's case and telemetry matching.
func printDemoServices(w io.Writer, dataDir, url, k string, tok func(org, user string) string, info demo.Info) {
	x := info.Extras
	specs := demo.Orgs()
	hub, utility, city, sme := specs[0], specs[2], specs[3], specs[5]
	names := map[string]string{}
	for _, o := range info.Orgs {
		names[o.ID] = o.Name
	}
	fmt.Fprintf(w, "\nConstituency registrations (%s/constituency.db):\n", dataDir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var last string
	for _, r := range x.Registrations {
		name := names[r.OrgID]
		if name == last {
			name = ""
		} else {
			last = name
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, r.Resource)
	}
	tw.Flush()
	fmt.Fprintf(w, `
  # who is notified of an observation (the ASN table says the utility's AS64500 announces 192.0.2.0/24)
  printf '%%s\n' 192.0.2.10 198.51.100.23 203.0.113.200 203.0.113.5 '[2001:db8::7]:443' https://portal.minato-kita.example/login 8.8.8.8 |
    kizuna route --data %s --asn-table testdata/demo/%s -
`, dataDir, demo.ASNTable)

	fmt.Fprintf(w, `
Notifications (%s/notifications.db): the demo scan report (%d records) became %d notifications,
each for the organisation owning the address or domain only (TLP:AMBER+STRICT); %d unrouted, %d malformed.
  kizuna notify list --data %s --org %q
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/notifications
  # import a report yourself (hub analyst): kizuna notify import --data %s --source NAME --format csv --map value=ip ... FILE
`, dataDir, x.Scan.Records, x.Scan.New+x.Scan.Duplicates, x.Scan.Unrouted, x.Scan.Malformed,
		dataDir, utility.Org.Name, k, tok(utility.Org.ID, utility.Users[0].Name), url, dataDir)

	key := x.Key
	fmt.Fprintf(w, `
Signed submissions: %s has a registered Ed25519 key (id %.16s…, %s/keys/orgs/);
private key %s, public key %s.
  SIG=$(kizuna key sign --key %s --header %s)
  curl %s-X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/taxii+json;version=2.1' \
    -H 'Accept: application/taxii+json;version=2.1' -H "Kizuna-Signature: $SIG" --data-binary @%s \
    %s/taxii2/%s/collections/%s/objects/
  # the transparency log records the signer; a changed body with the same header is refused (422)
  kizuna key sign --key %s %s > envelope.sig
  kizuna verify %s --sig envelope.sig --key %s
`, key.Org.Name, key.KeyID, dataDir, key.PrivateFile, key.PublicFile,
		key.PrivateFile, key.Envelope,
		k, tok(key.Org.ID, specs[6].Users[0].Name), key.Envelope,
		url, store.DefaultAPIRoot, store.DefaultCollectionID,
		key.PrivateFile, key.Envelope, key.Envelope, key.PublicFile)

	kev := 0
	for _, f := range x.Findings {
		if f.KEV {
			kev++
		}
	}
	fmt.Fprintf(w, `
Vulnerabilities: %d records in %s/vuln.db; the utility's SBOM %q (version %d, %d components)
has %d findings (%d known exploited, CISA KEV):
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/findings
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/findings      # the city has no SBOM: []
  kizuna vuln findings --data %s --org '%s'
`, x.Vulns, dataDir, x.SBOM.Asset, x.SBOM.Version, x.SBOM.Components, len(x.Findings), kev,
		k, tok(utility.Org.ID, utility.Users[0].Name), url,
		k, tok(city.Org.ID, city.Users[0].Name), url,
		dataDir, utility.Org.Name)

	fmt.Fprintf(w, `
CSAF 2.0 provider: advisory %s (TLP:%s, %s/%s), imported into the findings above:
  curl %s%s/.well-known/csaf/provider-metadata.json
  curl %s%s/.well-known/csaf/%s/index.txt
  curl %s%s/.well-known/csaf/%s/%s
  # read the provider as another hub would (discovery, hashes and signatures checked, incremental)
  P=$(mktemp -d); kizuna org create --data $P --name Partner --sector government --type hub
  kizuna vuln source add --data $P --name demo-hub --url %s --kind csaf-provider --every 1h%s
  kizuna vuln source run --data $P --name demo-hub     # a second run fetches nothing new
`, x.Advisory.ID, x.Advisory.TLP, x.Advisory.Dir(), x.Advisory.Path,
		k, url, k, url, x.Advisory.Dir(), k, url, x.Advisory.Dir(), x.Advisory.Path,
		url, insecureFlag(url))

	atok := tok(hub.Org.ID, hub.Users[1].Name)
	fmt.Fprintf(w, `
Vulnerability sources over HTTP (hub analysts and hub admins; anyone else gets 403):
  curl %s-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '{"name":"demo-hub","kind":"csaf-provider","url":"%s","insecure_skip_verify":%v}' %s/api/v1/vuln/sources
  curl %s-X POST -H 'Authorization: Bearer %s' %s/api/v1/vuln/sources/demo-hub/run   # counts of the run
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/vuln/sources                        # health
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/vuln/sources                        # the utility: 403
`, k, atok, url, strings.HasPrefix(url, "https"), url, k, atok, url, k, atok, url,
		k, tok(utility.Org.ID, utility.Users[0].Name), url)

	fmt.Fprintf(w, `
Incidents: the SME reported %q anonymously; case %s (%s):
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/cases              # hub analyst: the case, source and contact
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/cases              # the SME: its own case
  curl %s-H 'Authorization: Bearer %s' %s/api/v1/cases              # the city: []
`, x.Case.Report.Title, x.Case.ID, x.Case.State,
		k, tok(hub.Org.ID, hub.Users[1].Name), url,
		k, tok(sme.Org.ID, sme.Users[1].Name), url,
		k, tok(city.Org.ID, city.Users[0].Name), url)

	utok := tok(utility.Org.ID, utility.Users[0].Name)
	insecure := insecureFlag(url)
	fmt.Fprintf(w, `
Detection (from a checkout: synthetic Zeek logs of the utility's gateway network):
  kizuna match --indicators testdata/demo/indicators-electric-utility.json testdata/demo/%s
  kizuna match --server %s%s --token %s testdata/demo/%s testdata/demo/%s
  # sightings stored as the utility (TLP:AMBER by default), then listed
  curl %s-H 'Authorization: Bearer %s' --data-binary @testdata/demo/%s %s/api/v1/telemetry
  curl %s-H 'Authorization: Bearer %s' --data-binary @testdata/demo/%s '%s/api/v1/telemetry?tlp=green'
  curl %s-H 'Authorization: Bearer %s' -H 'Accept: application/taxii+json;version=2.1' '%s/taxii2/%s/collections/%s/objects/?match[type]=sighting'
  # the conn log's hit on the city's compromised server 198.51.100.23 (a GREEN sighting) is routed by
  # constituency: the city alone gets a notification, source "sighting"
  kizuna notify list --data %s --org %q
`, demo.DNSLog,
		url, insecure, utok, demo.DNSLog, demo.ConnLog,
		k, utok, demo.DNSLog, url,
		k, utok, demo.ConnLog, url,
		k, utok, url, store.DefaultAPIRoot, store.DefaultCollectionID,
		dataDir, city.Org.Name)
}

// insecureFlag returns " --insecure-skip-verify" for the demo hub's
// self-signed HTTPS URL, "" for plain HTTP.
func insecureFlag(url string) string {
	if strings.HasPrefix(url, "https") {
		return " --insecure-skip-verify"
	}
	return ""
}
