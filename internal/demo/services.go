package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// Shipped fixtures (testdata/demo) the services are seeded from.
const (
	// SBOMFile is the CycloneDX SBOM of the utility's SCADA gateway.
	SBOMFile = "sbom-utility-scada-gateway.json"
	// SBOMAsset is the asset name it is uploaded as.
	SBOMAsset = "scada-gateway-hsg200"
	// AdvisoryFile is the CSAF draft the hub publishes as TLP:WHITE.
	AdvisoryFile = "csaf-draft-hsg-200.json"
	// AdvisoryID is its document.tracking.id.
	AdvisoryID = "KIZUNA-DEMO-2026-0001"
	// ReportFile is the SME's anonymous incident report.
	ReportFile = "incident-sme-report.json"
	// DNSLog and ConnLog are synthetic Zeek logs of the utility's gateway
	// network holding values of shipped indicators (not embedded in the
	// binary: the printed examples read them from a checkout).
	DNSLog  = "zeek-dns.log"
	ConnLog = "zeek-conn.log"
	// ASNTable maps the utility's announced prefix to its AS (for kizuna
	// route --asn-table; not embedded).
	ASNTable = "asn-demo.csv"
)

// VulnFiles are the vulnerability records loaded into DIR/vuln.db, the KEV
// catalogue first (its flags then reach the records stored after it).
func VulnFiles() []string {
	return []string{"kev-catalog-excerpt.json", "osv-GO-2023-2102.json", "osv-GO-2023-2153.json", "osv-GO-2023-2402.json"}
}

// Registrations returns the demo organisations' constituency registrations
// (documentation address ranges, AS numbers and example domains) by
// OrgSpec.Key.
func Registrations() map[string][]string {
	return map[string][]string{
		"ministry":   {"cyber-policy.example"},
		"utility":    {"AS64500", "kanto-denryoku.example"},
		"city":       {"198.51.100.0/24", "minato-kita.example"},
		"university": {"203.0.113.0/24", "2001:db8::/32", "sakura-tech.example"},
		"sme":        {"203.0.113.192/26", "hinode-seimitsu.example"},
		"cert":       {"partner-cert.example"},
	}
}

// SigningOrg is the OrgSpec.Key of the organisation given a signing key.
const SigningOrg = "cert"

// Services are the hub's databases beside the object store, in the data
// directory: DIR/constituency.db, DIR/vuln.db and DIR/cases.db; the CSAF
// provider (DIR/csaf/) and the organisation keys (DIR/keys/orgs/) are
// files there too.
type Services struct {
	Dir          string
	Constituency *constituency.Registry
	Vuln         *vulndb.DB
	Cases        *incident.Cases
	// Notifications are third-party reports for their owners
	// (DIR/notifications.db).
	Notifications *notify.Store
}

// OpenServices opens (creating when missing) the databases in dir.
func OpenServices(ctx context.Context, dir string, st store.Store, log *slog.Logger) (*Services, error) {
	s := &Services{Dir: dir}
	var err error
	if s.Constituency, err = constituency.Open(ctx, dir); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if s.Vuln, err = vulndb.Open(ctx, dir, log); err != nil {
		s.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	if s.Cases, err = incident.Open(ctx, dir); err != nil {
		s.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	s.Cases.Dir, s.Cases.Log = st, log
	if s.Notifications, err = notify.Open(ctx, dir); err != nil {
		s.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	return s, nil
}

// Close closes the databases.
func (s *Services) Close() error {
	var errs []error
	if s.Constituency != nil {
		errs = append(errs, s.Constituency.Close())
	}
	if s.Vuln != nil {
		errs = append(errs, s.Vuln.Close())
	}
	if s.Cases != nil {
		errs = append(errs, s.Cases.Close())
	}
	if s.Notifications != nil {
		errs = append(errs, s.Notifications.Close())
	}
	return errors.Join(errs...)
}

// ServerConfig is the configuration `kizuna demo` serves with: the store,
// the services, the transparency log led (may be nil) and the registered
// organisation keys, plain HTTP on a loopback address
// (elsewhere TLS with a self-signed certificate kept in the data directory).
func ServerConfig(listen string, st store.Store, policy *sharing.Policy, svc *Services, led *ledger.Ledger, hubOrgID string, log *slog.Logger) server.Config {
	host, _, _ := net.SplitHostPort(listen)
	cfg := server.Config{
		Listen:       listen,
		InsecureHTTP: server.IsLoopback(host),
		Store:        st,
		Policy:       policy,
		Log:          log,
		HubOrgID:     hubOrgID,
		Ledger:       led,
	}
	if svc != nil {
		cfg.DataDir = svc.Dir
		cfg.Cases = svc.Cases
		cfg.Vuln = svc.Vuln
		cfg.Signatures = ledger.NewOrgKeys(svc.Dir)
		cfg.Notifications, cfg.Constituency, cfg.RouteOptions = svc.Notifications, svc.Constituency, RouteOptions()
	}
	return cfg
}

// SigningKey is the demo organisation key registered for signed
// submissions.
type SigningKey struct {
	Org   store.Org
	KeyID string
	// PrivateFile and PublicFile are the key files (kizuna key generate
	// format) in DIR/demo/; Envelope a TAXII envelope there to sign and post.
	PrivateFile, PublicFile, Envelope string
}

// Extras describes what Setup seeded in the services.
type Extras struct {
	// Registrations are all constituency registrations.
	Registrations []constituency.Registration
	Key           SigningKey
	// Vulns counts the records in DIR/vuln.db.
	Vulns int
	// SBOM is the utility's uploaded SBOM (its latest version) and
	// Findings the utility's findings.
	SBOM     vulndb.SBOM
	Findings []vulndb.Finding
	// Advisory is the published CSAF advisory.
	Advisory csaf.Entry
	// Case is the SME's anonymous incident case as the hub sees it.
	Case incident.Case
	// Scan is the import of ScanFeed into DIR/notifications.db.
	Scan notify.Result
}

// setupServices seeds the services; every step is idempotent.
func setupServices(ctx context.Context, st store.Store, p *ingest.Pipeline, data fs.FS, svc *Services, byKey map[string]OrgSpec, info *Info) error {
	x := &Extras{}
	info.Extras = x
	// Constituency registrations (Add is idempotent).
	regs := Registrations()
	for _, spec := range Orgs() {
		if res := regs[spec.Key]; len(res) > 0 {
			if _, err := svc.Constituency.Add(ctx, byKey[spec.Key].Org.ID, res...); err != nil {
				return fmt.Errorf("demo: registering the constituency of %s: %w", spec.Org.Name, err)
			}
		}
	}
	var err error
	if x.Registrations, err = svc.Constituency.List(ctx, ""); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if x.Key, err = setupKey(svc.Dir, byKey[SigningOrg]); err != nil {
		return err
	}
	hub := byKey["hub"]
	analyst := principalOf(hub, 1)
	if err := setupNotifications(ctx, svc, analyst, x); err != nil {
		return err
	}
	if err := setupVuln(ctx, svc, p, data, hub, analyst, byKey["utility"], x); err != nil {
		return err
	}
	return setupCase(ctx, svc, p, data, principalOf(byKey["sme"], 1), analyst, x)
}

func principalOf(spec OrgSpec, user int) sharing.Principal {
	u := spec.Users[user]
	return sharing.Principal{OrgID: spec.Org.ID, OrgName: spec.Org.Name, UserID: u.ID, User: u.Name, Role: u.Role}
}

// setupKey generates (first run) or reuses the organisation's Ed25519 key
// in DIR/demo/ and registers its public key in DIR/keys/orgs/.
func setupKey(dir string, spec OrgSpec) (SigningKey, error) {
	k := SigningKey{Org: spec.Org}
	kdir := filepath.Join(dir, "demo")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return k, fmt.Errorf("demo: %w", err)
	}
	k.PrivateFile = filepath.Join(kdir, spec.Key+".key")
	k.PublicFile = k.PrivateFile + ".pub"
	k.Envelope = filepath.Join(kdir, spec.Key+"-envelope.json")
	var priv *sign.PrivateKey
	if b, err := os.ReadFile(k.PrivateFile); err == nil {
		id, got, err := sign.ParsePrivateKeyFile(b)
		if err != nil || id != spec.Org.ID {
			return k, fmt.Errorf("demo: key file %s: not a key of %s (%v)", k.PrivateFile, spec.Org.Name, err)
		}
		priv = got
	} else if errors.Is(err, fs.ErrNotExist) {
		if priv, err = sign.GenerateKey(rand.Reader, sign.Ed25519); err != nil {
			return k, fmt.Errorf("demo: generating a key: %w", err)
		}
		b, err := sign.MarshalPrivateKeyFile(spec.Org.ID, priv)
		if err == nil {
			err = os.WriteFile(k.PrivateFile, b, 0o600)
		}
		if err != nil {
			return k, fmt.Errorf("demo: writing %s: %w", k.PrivateFile, err)
		}
	} else {
		return k, fmt.Errorf("demo: %w", err)
	}
	pub, err := sign.MarshalPublicKeyFile(spec.Org.ID, priv.Public())
	if err == nil {
		err = os.WriteFile(k.PublicFile, pub, 0o644)
	}
	if err == nil {
		err = os.WriteFile(k.Envelope, envelope(spec.Org.ID), 0o644)
	}
	if err != nil {
		return k, fmt.Errorf("demo: %w", err)
	}
	if err := ledger.NewOrgKeys(dir).Add(spec.Org.ID, priv.Public()); err != nil {
		return k, fmt.Errorf("demo: registering the key of %s: %w", spec.Org.Name, err)
	}
	k.KeyID = priv.Public().ID()
	return k, nil
}

// envelope is a TAXII envelope with one TLP:GREEN indicator of the
// organisation, for the signed POST example.
func envelope(org string) []byte {
	return []byte(`{"objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d9e01",` +
		`"created":"2026-11-20T10:00:00.000Z","modified":"2026-11-20T10:00:00.000Z","created_by_ref":"` + org + `",` +
		`"name":"HTTP/2 rapid reset scanner","pattern":"[ipv4-addr:value = '198.51.100.250']","pattern_type":"stix",` +
		`"valid_from":"2026-11-20T10:00:00Z","object_marking_refs":["` + sharing.MarkingID(sharing.TLPGreen) + `"]}]}` + "\n")
}

// setupVuln loads the shipped records into DIR/vuln.db, uploads the
// utility's SBOM (once), publishes the CSAF advisory (once) and imports it
// like kizuna csaf publish does.
func setupVuln(ctx context.Context, svc *Services, p *ingest.Pipeline, data fs.FS, hub OrgSpec, analyst sharing.Principal, utility OrgSpec, x *Extras) error {
	for _, name := range VulnFiles() {
		b, err := fs.ReadFile(data, name)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		parsed, err := vulndb.Parse(name, b)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if parsed.KEV != nil {
			_, err = svc.Vuln.PutKEV(ctx, parsed.KEV)
		} else {
			_, err = svc.Vuln.PutVulns(ctx, parsed.Vulns)
		}
		if err != nil {
			return fmt.Errorf("demo: %s: %w", name, err)
		}
	}
	sboms, err := svc.Vuln.SBOMs(ctx, utility.Org.ID)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if i := slices.IndexFunc(sboms, func(s vulndb.SBOM) bool { return s.Asset == SBOMAsset }); i >= 0 {
		x.SBOM = sboms[i] // newest first
	} else {
		raw, err := fs.ReadFile(data, SBOMFile)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if x.SBOM, err = svc.Vuln.UploadSBOM(ctx, utility.Org.ID, utility.Org.Name, SBOMAsset, SBOMFile, raw); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}

	prov := csaf.NewProvider(svc.Dir, nil)
	entries, err := prov.Entries()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if i := slices.IndexFunc(entries, func(e csaf.Entry) bool { return e.ID == AdvisoryID }); i >= 0 {
		x.Advisory = entries[i]
	} else {
		draft, err := fs.ReadFile(data, AdvisoryFile)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		doc, err := csaf.Complete(AdvisoryFile, draft, csaf.DraftOptions{Now: time.Now(), TLP: "WHITE"})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if x.Advisory, err = prov.Publish(ctx, doc, csaf.PublishOptions{ProducerOrg: hub.Org.ID, ProducerUser: analyst.UserID}); err != nil {
			return fmt.Errorf("demo: publishing %s: %w", AdvisoryFile, err)
		}
	}
	// Import it as kizuna csaf publish does (records and STIX objects
	// unchanged on a re-run).
	var failed error
	im := &vulndb.Importer{
		DB: svc.Vuln, CreatedBy: hub.Org.ID, Markings: []string{sharing.MarkingID(sharing.TLPClear)},
		Emit: func(ctx context.Context, objs []json.RawMessage) error {
			res, err := p.Submit(ctx, ingest.Submission{Collection: store.DefaultCollectionID, Principal: analyst, DefaultTLP: sharing.TLPClear}, objs)
			if err == nil && len(res.Failures) > 0 {
				err = fmt.Errorf("STIX object %s refused: %s", res.Failures[0].ID, res.Failures[0].Message)
			}
			return err
		},
		OnFailure: func(_ string, err error) { failed = err },
	}
	if _, err := im.Import(ctx, []string{filepath.Join(svc.Dir, "csaf", x.Advisory.Dir(), filepath.FromSlash(x.Advisory.Path))}); err != nil || failed != nil {
		return fmt.Errorf("demo: importing advisory %s: %w", AdvisoryID, errors.Join(err, failed))
	}
	stats, err := svc.Vuln.Stats(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	x.Vulns = stats.Vulns
	if x.Findings, err = svc.Vuln.Findings(ctx, utility.Org.ID); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// reportTitle returns the title of the shipped report.
func reportTitle(raw []byte) string {
	var r struct {
		Title string `json:"title"`
	}
	_ = json.Unmarshal(raw, &r)
	return r.Title
}

// setupCase files the SME's anonymous report (once): its indicator goes
// through the ingest pipeline anonymously, then a case is opened.
func setupCase(ctx context.Context, svc *Services, p *ingest.Pipeline, data fs.FS, reporter, analyst sharing.Principal, x *Extras) error {
	raw, err := fs.ReadFile(data, ReportFile)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	title := reportTitle(raw)
	all, err := svc.Cases.List(ctx, analyst, "")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, c := range all {
		if c.ReporterOrg == reporter.OrgID && c.Report.Title == title {
			x.Case = c
			return nil
		}
	}
	rep, err := incident.ParseReport(raw)
	if err != nil {
		return fmt.Errorf("demo: %s: %w", ReportFile, err)
	}
	var attached []string
	if len(rep.Objects) > 0 {
		res, err := p.Submit(ctx, ingest.Submission{Collection: store.DefaultCollectionID, Principal: reporter,
			Anonymous: rep.Anonymous, DefaultTLP: rep.Level()}, rep.Objects)
		if err == nil && len(res.Failures) > 0 {
			err = fmt.Errorf("attached object %s refused: %s", res.Failures[0].ID, res.Failures[0].Message)
		}
		if err != nil {
			return fmt.Errorf("demo: %s: %w", ReportFile, err)
		}
		for _, d := range res.Successes {
			attached = append(attached, d.ID)
		}
	}
	if _, err := svc.Cases.Create(ctx, reporter, rep, attached); err != nil {
		return fmt.Errorf("demo: %s: %w", ReportFile, err)
	}
	all, err = svc.Cases.List(ctx, analyst, "")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, c := range all {
		if c.ReporterOrg == reporter.OrgID && c.Report.Title == title {
			x.Case = c
		}
	}
	return nil
}
