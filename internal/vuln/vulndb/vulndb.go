// Package vulndb is Kizuna's persistent local vulnerability database
// (DIR/vuln.db, SQLite): normalised vulnerability records keyed by id and
// replaced in place when a record with a later modified time arrives, the
// CISA KEV catalogue, the SBOMs of each organisation (versioned: upload N
// keeps N-1) and the findings per organisation × asset × component ×
// vulnerability.
//
// Findings are re-evaluated incrementally: a new or changed vulnerability
// is matched against every stored SBOM with match.Inventory.MatchVulnerability,
// and a new SBOM version against every record with match.DB.Match.
// Subscribers (Subscribe) are told about findings that did not exist
// before, so alerting can raise new exposures.
package vulndb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/match"
)

// FileName is the database file Open uses inside the data directory.
const FileName = "vuln.db"

const schema = `
CREATE TABLE IF NOT EXISTS vulns (
	id TEXT PRIMARY KEY,
	source TEXT NOT NULL,
	modified INTEGER NOT NULL,
	withdrawn INTEGER NOT NULL,
	kev INTEGER NOT NULL,
	vex INTEGER NOT NULL,
	stix_created INTEGER NOT NULL,
	stix_modified INTEGER NOT NULL,
	data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS vulns_vex ON vulns(vex) WHERE vex = 1;
CREATE TABLE IF NOT EXISTS vuln_cves (
	cve TEXT NOT NULL,
	id TEXT NOT NULL,
	PRIMARY KEY (cve, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vuln_cves_id ON vuln_cves(id);
CREATE TABLE IF NOT EXISTS kev (
	cve TEXT PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sboms (
	org TEXT NOT NULL,
	asset TEXT NOT NULL,
	version INTEGER NOT NULL,
	org_name TEXT NOT NULL,
	file TEXT NOT NULL,
	format TEXT NOT NULL,
	components INTEGER NOT NULL,
	uploaded INTEGER NOT NULL,
	raw BLOB NOT NULL,
	doc BLOB NOT NULL,
	PRIMARY KEY (org, asset, version)
);
CREATE TABLE IF NOT EXISTS findings (
	org TEXT NOT NULL,
	asset TEXT NOT NULL,
	ref TEXT NOT NULL,
	vuln_id TEXT NOT NULL,
	first_seen INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (org, asset, ref, vuln_id)
);
CREATE INDEX IF NOT EXISTS findings_vuln ON findings(vuln_id);
`

// DB is the vulnerability database of one data directory. It is safe for
// concurrent use.
type DB struct {
	db  *sql.DB
	log *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time

	// mu guards the following: the caches and the subscribers. Writes
	// hold it for their whole transaction, so the caches follow the
	// tables.
	mu   sync.Mutex
	kev  vuln.KEVCatalog  // nil until loaded
	mdb  *match.DB        // nil until loaded
	inv  *match.Inventory // nil until loaded
	vex  *vexIndex        // nil until loaded
	vers map[string]int   // inventory id -> SBOM version, with inv
	// dataVersion is SQLite's data_version when the caches were last
	// checked: it changes when another process (kizuna vuln import
	// beside kizuna serve) commits to the file.
	dataVersion int64
	subs        []func(context.Context, []Finding)
}

// Open opens (creating if needed) DIR/vuln.db. log may be nil.
func Open(ctx context.Context, dir string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("vulndb: creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := sqlitedb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vulndb: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("vulndb: creating tables in %s: %w", path, err)
	}
	return &DB{db: db, log: log, Now: time.Now}, nil
}

// syncLocked drops the caches when another connection (another process)
// has written to the database since they were loaded.
func (d *DB) syncLocked(ctx context.Context) error {
	var v int64
	if err := d.db.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return fmt.Errorf("vulndb: data_version: %w", err)
	}
	if v != d.dataVersion {
		d.kev, d.mdb, d.inv, d.vers, d.vex = nil, nil, nil, nil, nil
		d.dataVersion = v
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("vulndb: closing: %w", err)
	}
	return nil
}

// Subscribe registers fn to be called, after commit, with the findings
// that did not exist before (a vulnerability newly affecting a component,
// a new component in an SBOM version). fn runs on the writer's goroutine
// and must not call back into d.
func (d *DB) Subscribe(fn func(ctx context.Context, fs []Finding)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subs = append(d.subs, fn)
}

func (d *DB) notifyLocked(ctx context.Context, fs []Finding) {
	if len(fs) == 0 {
		return
	}
	for _, fn := range d.subs {
		fn(ctx, fs)
	}
}

// Finding is one stored or computed finding: one vulnerability affecting
// one component of one organisation's asset. The JSON field names are
// those of `kizuna vuln scan --format json`.
type Finding struct {
	Org   string `json:"org,omitempty"`
	Asset string `json:"asset,omitempty"`
	// SBOMVersion is the version of the asset's SBOM the finding was
	// computed on.
	SBOMVersion int `json:"sbom_version,omitempty"`
	// Vulnerability is the record id (CVE, OSV id, CSAF tracking/CVE).
	Vulnerability string   `json:"vulnerability"`
	Aliases       []string `json:"aliases"`
	Component     string   `json:"component"`
	Ref           string   `json:"ref,omitempty"`
	PURL          string   `json:"purl,omitempty"`
	CPE           string   `json:"cpe,omitempty"`
	// InstalledVersion is the component's version.
	InstalledVersion string   `json:"installed_version"`
	FixedVersions    []string `json:"fixed_versions"`
	KEV              bool     `json:"kev"`
	// Severity is the qualitative rating (CRITICAL, HIGH, MEDIUM, LOW,
	// NONE; from the CVSS base score when the source gives no rating) or
	// UNKNOWN.
	Severity string  `json:"severity"`
	Score    float64 `json:"score,omitempty"`
	Vector   string  `json:"vector,omitempty"`
	// Status is affected or under_investigation.
	Status    string    `json:"status"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
}

// key identifies a stored finding.
func (f *Finding) key() string {
	return f.Org + "\x1f" + f.Asset + "\x1f" + f.Ref + "\x1f" + f.Vulnerability
}

// FromMatch converts a match.Finding (org and asset left empty).
func FromMatch(m match.Finding) Finding {
	f := Finding{
		Vulnerability: m.VulnID, Aliases: m.Aliases, Component: m.Name, Ref: m.Ref,
		PURL: m.PURL, CPE: m.CPE, InstalledVersion: m.Installed, FixedVersions: m.Fixed,
		KEV: m.KEV, Score: m.Severity.Score, Vector: m.Severity.Vector, Status: string(m.Status),
		Severity: rating(m.Severity),
	}
	if f.Aliases == nil {
		f.Aliases = []string{}
	}
	if f.FixedVersions == nil {
		f.FixedVersions = []string{}
	}
	if f.Ref == "" {
		f.Ref = m.Name + "@" + m.Installed
	}
	return f
}

// rating returns the qualitative severity of s: its own rating when it is
// one of CVSS v3's (Red Hat's Important and Moderate read as HIGH and
// MEDIUM), else the CVSS v3 qualitative band of its score, else UNKNOWN.
func rating(s vuln.Severity) string {
	switch r := upper(s.Rating); r {
	case "IMPORTANT":
		return "HIGH"
	case "MODERATE":
		return "MEDIUM"
	case "CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE":
		return r
	}
	switch sc := s.Score; {
	case sc >= 9:
		return "CRITICAL"
	case sc >= 7:
		return "HIGH"
	case sc >= 4:
		return "MEDIUM"
	case sc > 0:
		return "LOW"
	}
	return "UNKNOWN"
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// Get returns the stored record with this id (errkind.NotFound when
// absent).
func (d *DB) Get(ctx context.Context, id string) (*vuln.Vulnerability, error) {
	var data []byte
	err := d.db.QueryRowContext(ctx, `SELECT data FROM vulns WHERE id = ?`, id).Scan(&data)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("vulndb: vulnerability %s: %w", id, errkind.NotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("vulndb: reading vulnerability %s: %w", id, err)
	}
	return decodeRecord(id, data)
}

// Stats counts what the database holds.
type Stats struct {
	Vulns, KEV, SBOMs, Findings int
}

// Stats returns the counts of records, KEV entries, SBOM versions and
// findings.
func (d *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := d.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM vulns), (SELECT count(*) FROM kev),
		(SELECT count(*) FROM sboms), (SELECT count(*) FROM findings)`).Scan(&s.Vulns, &s.KEV, &s.SBOMs, &s.Findings)
	if err != nil {
		return s, fmt.Errorf("vulndb: counting: %w", err)
	}
	return s, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
