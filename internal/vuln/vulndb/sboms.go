package vulndb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/match"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
)

// SBOM describes one stored SBOM version.
type SBOM struct {
	Org        string    `json:"org"`
	OrgName    string    `json:"org_name,omitempty"`
	Asset      string    `json:"asset"`
	Version    int       `json:"version"`
	File       string    `json:"file"`
	Format     string    `json:"format"`
	Components int       `json:"components"`
	Uploaded   time.Time `json:"uploaded"`
	// Findings is the number of current findings of the asset (set for
	// the latest version only).
	Findings int `json:"findings"`
	// NewFindings, set by UploadSBOM, counts findings the upload created.
	NewFindings int `json:"new_findings,omitempty"`
	// Notes are the parser's notes (what it could not use).
	Notes []string `json:"notes,omitempty"`
}

// invID is the inventory id of an organisation's asset.
func invID(org, asset string) string { return org + "\x1f" + asset }

func splitInvID(id string) (org, asset string) {
	org, asset, _ = strings.Cut(id, "\x1f")
	return org, asset
}

// UploadSBOM parses raw (any format sbom.Parse reads; file names it in
// messages) and stores it as the next version of the organisation's asset
// (asset defaults to the document's name, else the file's base name),
// keeping the previous version and deleting older ones. The asset's
// findings are recomputed against every stored record.
func (d *DB) UploadSBOM(ctx context.Context, org, orgName, asset, file string, raw []byte) (SBOM, error) {
	if org == "" {
		return SBOM{}, fmt.Errorf("vulndb: uploading %s: organisation: %w", file, errkind.Invalid)
	}
	doc, err := sbom.Parse(file, raw)
	if err != nil {
		return SBOM{}, fmt.Errorf("vulndb: %w", err)
	}
	if asset == "" {
		asset = doc.Name
	}
	if asset == "" {
		asset = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	docJSON, err := json.Marshal(doc)
	if err != nil {
		return SBOM{}, fmt.Errorf("vulndb: encoding %s: %w", file, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.syncLocked(ctx); err != nil {
		return SBOM{}, err
	}
	if err := d.loadMatchDBLocked(ctx); err != nil {
		return SBOM{}, err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return SBOM{}, fmt.Errorf("vulndb: begin: %w", err)
	}
	defer tx.Rollback()
	if err := d.loadInventoryLocked(ctx, tx); err != nil {
		return SBOM{}, err
	}
	info := SBOM{Org: org, OrgName: orgName, Asset: asset, File: filepath.Base(file), Format: doc.Format,
		Components: len(doc.Components), Uploaded: d.Now().UTC(), Notes: doc.Notes}
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) + 1 FROM sboms WHERE org = ? AND asset = ?`,
		org, asset).Scan(&info.Version); err != nil {
		return SBOM{}, fmt.Errorf("vulndb: SBOM version of %s: %w", asset, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sboms (org, asset, version, org_name, file, format, components, uploaded, raw, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, org, asset, info.Version, orgName, info.File, info.Format, info.Components,
		nanos(info.Uploaded), raw, docJSON); err != nil {
		return SBOM{}, fmt.Errorf("vulndb: storing SBOM %s: %w", file, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sboms WHERE org = ? AND asset = ? AND version < ?`,
		org, asset, info.Version-1); err != nil {
		return SBOM{}, fmt.Errorf("vulndb: pruning SBOM versions of %s: %w", asset, err)
	}
	id := invID(org, asset)
	ms := d.mdb.Match(id, doc)
	fs := make([]Finding, len(ms))
	for i, m := range ms {
		fs[i] = d.stamp(FromMatch(m), org, asset, info.Version)
	}
	fs = deliverable(fs, func(id string) *vuln.Distribution {
		if v, ok := d.mdb.Get(id); ok {
			return v.Distribution
		}
		return nil
	})
	fs = d.vex.filter(fs)
	fresh, err := d.replaceAssetFindings(ctx, tx, org, asset, fs)
	if err != nil {
		return SBOM{}, err
	}
	if err := tx.Commit(); err != nil {
		return SBOM{}, fmt.Errorf("vulndb: commit: %w", err)
	}
	d.inv.Add(id, doc)
	d.vers[id] = info.Version
	info.Findings, info.NewFindings = len(fs), len(fresh)
	d.notifyLocked(ctx, fresh)
	return info, nil
}

// stamp fills the organisation, asset and SBOM version of f.
func (d *DB) stamp(f Finding, org, asset string, version int) Finding {
	f.Org, f.Asset, f.SBOMVersion = org, asset, version
	return f
}

// existingKeys returns the first-seen time of the stored findings the
// query selects, by key.
func existingKeys(ctx context.Context, tx *sql.Tx, query string, args ...any) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("vulndb: reading findings: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var f Finding
		var first int64
		if err := rows.Scan(&f.Org, &f.Asset, &f.Ref, &f.Vulnerability, &first); err != nil {
			return nil, fmt.Errorf("vulndb: reading findings: %w", err)
		}
		out[f.key()] = first
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vulndb: reading findings: %w", err)
	}
	return out, nil
}

// insertFindings stores fs, keeping the first-seen time of findings that
// existed (old) and returning the others.
func (d *DB) insertFindings(ctx context.Context, tx *sql.Tx, fs []Finding, old map[string]int64) ([]Finding, error) {
	ins, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO findings (org, asset, ref, vuln_id, first_seen, data) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("vulndb: prepare: %w", err)
	}
	defer ins.Close()
	now := d.Now().UTC()
	var fresh []Finding
	for i := range fs {
		f := &fs[i]
		if first, ok := old[f.key()]; ok {
			f.FirstSeen = fromNanos(first)
		} else {
			f.FirstSeen = now
			fresh = append(fresh, *f)
		}
		data, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("vulndb: encoding finding %s: %w", f.Vulnerability, err)
		}
		if _, err := ins.ExecContext(ctx, f.Org, f.Asset, f.Ref, f.Vulnerability, nanos(f.FirstSeen), data); err != nil {
			return nil, fmt.Errorf("vulndb: storing finding %s of %s: %w", f.Vulnerability, f.Asset, err)
		}
	}
	return fresh, nil
}

// replaceAssetFindings replaces the findings of one asset with fs and
// returns those that are new.
func (d *DB) replaceAssetFindings(ctx context.Context, tx *sql.Tx, org, asset string, fs []Finding) ([]Finding, error) {
	old, err := existingKeys(ctx, tx, `SELECT org, asset, ref, vuln_id, first_seen FROM findings WHERE org = ? AND asset = ?`, org, asset)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM findings WHERE org = ? AND asset = ?`, org, asset); err != nil {
		return nil, fmt.Errorf("vulndb: replacing findings of %s: %w", asset, err)
	}
	return d.insertFindings(ctx, tx, fs, old)
}

// replaceVulnFindings re-matches v across every SBOM and replaces its
// findings, returning those that are new.
func (d *DB) replaceVulnFindings(ctx context.Context, tx *sql.Tx, v *vuln.Vulnerability) ([]Finding, error) {
	old, err := existingKeys(ctx, tx, `SELECT org, asset, ref, vuln_id, first_seen FROM findings WHERE vuln_id = ?`, v.ID)
	if err != nil {
		return nil, err
	}
	if len(old) > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM findings WHERE vuln_id = ?`, v.ID); err != nil {
			return nil, fmt.Errorf("vulndb: replacing findings of %s: %w", v.ID, err)
		}
	}
	ms := d.inv.MatchVulnerability(v)
	fs := make([]Finding, len(ms))
	for i, m := range ms {
		org, asset := splitInvID(m.SBOM)
		fs[i] = d.stamp(FromMatch(m), org, asset, d.vers[m.SBOM])
	}
	fs = deliverable(fs, func(string) *vuln.Distribution { return v.Distribution })
	fs = d.vex.filter(fs)
	return d.insertFindings(ctx, tx, fs, old)
}

// loadInventoryLocked indexes the latest SBOM version of every asset once.
func (d *DB) loadInventoryLocked(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) error {
	if d.inv != nil {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT s.org, s.asset, s.version, s.doc FROM sboms s
		WHERE s.version = (SELECT max(version) FROM sboms t WHERE t.org = s.org AND t.asset = s.asset)`)
	if err != nil {
		return fmt.Errorf("vulndb: reading SBOMs: %w", err)
	}
	defer rows.Close()
	inv := match.NewInventory()
	vers := map[string]int{}
	for rows.Next() {
		var org, asset string
		var version int
		var data []byte
		if err := rows.Scan(&org, &asset, &version, &data); err != nil {
			return fmt.Errorf("vulndb: reading SBOMs: %w", err)
		}
		var doc sbom.Document
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("vulndb: decoding SBOM %s of %s: %w", asset, org, err)
		}
		id := invID(org, asset)
		inv.Add(id, &doc)
		vers[id] = version
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("vulndb: reading SBOMs: %w", err)
	}
	d.inv, d.vers = inv, vers
	return nil
}

// SBOMs lists the stored SBOM versions of an organisation (every
// organisation when org is empty), newest version first per asset.
func (d *DB) SBOMs(ctx context.Context, org string) ([]SBOM, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT s.org, s.org_name, s.asset, s.version, s.file, s.format, s.components, s.uploaded,
		CASE WHEN s.version = (SELECT max(version) FROM sboms t WHERE t.org = s.org AND t.asset = s.asset)
		THEN (SELECT count(*) FROM findings f WHERE f.org = s.org AND f.asset = s.asset) ELSE 0 END
		FROM sboms s WHERE ? = '' OR s.org = ? ORDER BY s.org_name, s.org, s.asset, s.version DESC`, org, org)
	if err != nil {
		return nil, fmt.Errorf("vulndb: listing SBOMs: %w", err)
	}
	defer rows.Close()
	var out []SBOM
	for rows.Next() {
		var s SBOM
		var up int64
		if err := rows.Scan(&s.Org, &s.OrgName, &s.Asset, &s.Version, &s.File, &s.Format, &s.Components, &up, &s.Findings); err != nil {
			return nil, fmt.Errorf("vulndb: listing SBOMs: %w", err)
		}
		s.Uploaded = fromNanos(up)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vulndb: listing SBOMs: %w", err)
	}
	return out, nil
}

// Findings returns the current findings of an organisation (every
// organisation when org is empty), by asset, component and vulnerability.
func (d *DB) Findings(ctx context.Context, org string) ([]Finding, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT data FROM findings WHERE ? = '' OR org = ? ORDER BY org, asset, ref, vuln_id`, org, org)
	if err != nil {
		return nil, fmt.Errorf("vulndb: reading findings: %w", err)
	}
	defer rows.Close()
	out := []Finding{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("vulndb: reading findings: %w", err)
		}
		var f Finding
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("vulndb: decoding finding: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vulndb: reading findings: %w", err)
	}
	return out, nil
}

// Scan matches an SBOM against the stored records without storing
// anything (file names it in messages and in the findings' asset).
func (d *DB) Scan(ctx context.Context, file string, raw []byte) ([]Finding, *sbom.Document, error) {
	doc, err := sbom.Parse(file, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("vulndb: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.syncLocked(ctx); err != nil {
		return nil, nil, err
	}
	if err := d.loadMatchDBLocked(ctx); err != nil {
		return nil, nil, err
	}
	ms := d.mdb.Match(file, doc)
	out := make([]Finding, len(ms))
	for i, m := range ms {
		out[i] = FromMatch(m)
	}
	return d.vex.filter(out), doc, nil
}
