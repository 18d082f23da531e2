package vulndb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/match"
)

// SourceKEV is the Source of a placeholder record made from a KEV entry
// for a CVE that has no record yet; any real record replaces it.
const SourceKEV = "kev"

// Change is a record that was added or replaced, with the created and
// modified times its STIX vulnerability object takes (see STIX).
type Change struct {
	Vuln *vuln.Vulnerability
	// Created and Modified are the STIX timestamps: Created is kept
	// across versions; Modified is the later of the record's modified
	// time and its KEV date, and always after the previous version's.
	Created, Modified time.Time
	// Replaced is set when an earlier record with this id was stored.
	Replaced bool
}

// PutResult says what a Put did.
type PutResult struct {
	// Added and Updated count new records and records replaced by a
	// newer one (or, for PutKEV, records newly flagged as KEV).
	// Unchanged counts records already stored with the same modified
	// time; Stale records older than the stored one.
	Added, Updated, Unchanged, Stale int
	// Changes lists the added and updated records.
	Changes []Change
	// NewFindings counts the findings the changes created.
	NewFindings int
}

type storedMeta struct {
	source                 string
	modified, created, smd int64
	kev                    bool
}

// PutVulns stores records: a record whose id is not stored is added; a
// stored record is replaced when the new one has a later modified time
// (a real record always replaces a KEV placeholder); otherwise it is left
// alone. Records get their KEV flag from the stored catalogue. Findings of
// the changed records are re-evaluated against every stored SBOM. Within
// vs, the record with the latest modified time of each id wins.
func (d *DB) PutVulns(ctx context.Context, vs []*vuln.Vulnerability) (PutResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var res PutResult
	if err := d.syncLocked(ctx); err != nil {
		return res, err
	}
	if err := d.loadKEVLocked(ctx); err != nil {
		return res, err
	}
	// The latest record of each id, in first-seen order.
	idx := map[string]int{}
	var in []*vuln.Vulnerability
	for _, v := range vs {
		if i, ok := idx[v.ID]; ok {
			if v.Modified.After(in[i].Modified) {
				in[i] = v
			}
			res.Unchanged++
			continue
		}
		idx[v.ID] = len(in)
		in = append(in, v)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("vulndb: begin: %w", err)
	}
	defer tx.Rollback()
	get, err := tx.PrepareContext(ctx, `SELECT source, modified, stix_created, stix_modified, kev FROM vulns WHERE id = ?`)
	if err != nil {
		return res, fmt.Errorf("vulndb: prepare: %w", err)
	}
	defer get.Close()
	w, err := newRecordWriter(ctx, tx)
	if err != nil {
		return res, err
	}
	defer w.close()
	for _, v := range in {
		d.kev.Apply(v)
		scoreVectors(v)
		var m storedMeta
		var kev int
		err := get.QueryRowContext(ctx, v.ID).Scan(&m.source, &m.modified, &m.created, &m.smd, &kev)
		exists := err == nil
		if err != nil && err != sql.ErrNoRows {
			return res, fmt.Errorf("vulndb: reading %s: %w", v.ID, err)
		}
		if exists {
			placeholder := m.source == SourceKEV && v.Source != SourceKEV
			switch mod := nanos(v.Modified); {
			case v.Source == SourceKEV && m.source != SourceKEV:
				res.Unchanged++
				continue
			case placeholder || mod > m.modified:
			case mod == m.modified:
				res.Unchanged++
				continue
			default:
				res.Stale++
				continue
			}
		} else if v.IsWithdrawn() {
			// Keep it (an older copy arriving later stays out), but
			// there was nothing to withdraw.
			if err := w.put(ctx, v, storedMeta{}, false); err != nil {
				return res, err
			}
			res.Added++
			continue
		}
		ch, err := w.putChange(ctx, v, m, exists)
		if err != nil {
			return res, err
		}
		if exists {
			res.Updated++
		} else {
			res.Added++
		}
		res.Changes = append(res.Changes, ch)
	}
	if err := d.applyChangesLocked(ctx, tx, &res); err != nil {
		return res, err
	}
	return res, nil
}

// applyChangesLocked re-evaluates the findings of res.Changes inside tx,
// commits, updates the caches and notifies the subscribers. A change to a
// record with known_not_affected statements also re-evaluates the other
// records about the same CVEs.
func (d *DB) applyChangesLocked(ctx context.Context, tx *sql.Tx, res *PutResult) error {
	var fresh []Finding
	if len(res.Changes) > 0 {
		if err := d.loadInventoryLocked(ctx, tx); err != nil {
			return err
		}
		if d.inv.Len() > 0 {
			if err := d.loadVEXLocked(ctx, tx); err != nil {
				return err
			}
		}
	}
	if d.vex != nil && len(res.Changes) > 0 {
		changed := map[string]bool{}
		var cves []string
		for _, ch := range res.Changes {
			changed[ch.Vuln.ID] = true
			if _, had := d.vex.cves[ch.Vuln.ID]; had || hasStatements(ch.Vuln) {
				cves = append(cves, ch.Vuln.CVEs()...)
				cves = append(cves, d.vex.cves[ch.Vuln.ID]...)
			}
			d.vex.add(ch.Vuln)
		}
		vs := make([]*vuln.Vulnerability, 0, len(res.Changes))
		for _, ch := range res.Changes {
			vs = append(vs, ch.Vuln)
		}
		related, err := relatedRecords(ctx, tx, cves, changed)
		if err != nil {
			return err
		}
		vs = append(vs, related...)
		if d.inv.Len() > 0 {
			for _, v := range vs {
				nf, err := d.replaceVulnFindings(ctx, tx, v)
				if err != nil {
					return err
				}
				fresh = append(fresh, nf...)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vulndb: commit: %w", err)
	}
	if d.mdb != nil {
		for _, ch := range res.Changes {
			d.mdb.Add(ch.Vuln)
		}
	}
	res.NewFindings = len(fresh)
	d.notifyLocked(ctx, fresh)
	return nil
}

// relatedRecords returns the stored records with one of the CVE ids,
// except those in skip.
func relatedRecords(ctx context.Context, tx *sql.Tx, cves []string, skip map[string]bool) ([]*vuln.Vulnerability, error) {
	var out []*vuln.Vulnerability
	seen := map[string]bool{}
	for _, c := range cves {
		if seen[c] {
			continue
		}
		seen[c] = true
		rows, err := tx.QueryContext(ctx, `SELECT v.id, v.data FROM vuln_cves c JOIN vulns v ON v.id = c.id WHERE c.cve = ?`, c)
		if err != nil {
			return nil, fmt.Errorf("vulndb: records of %s: %w", c, err)
		}
		for rows.Next() {
			var id string
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return nil, fmt.Errorf("vulndb: records of %s: %w", c, err)
			}
			if skip[id] {
				continue
			}
			skip[id] = true
			v, err := decodeRecord(id, data)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("vulndb: records of %s: %w", c, err)
		}
	}
	return out, nil
}

// loadVEXLocked indexes the known_not_affected statements once.
func (d *DB) loadVEXLocked(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) error {
	if d.vex != nil {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT id, data FROM vulns WHERE vex = 1`)
	if err != nil {
		return fmt.Errorf("vulndb: reading VEX statements: %w", err)
	}
	defer rows.Close()
	x := newVEXIndex()
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return fmt.Errorf("vulndb: reading VEX statements: %w", err)
		}
		v, err := decodeRecord(id, data)
		if err != nil {
			return err
		}
		x.add(v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("vulndb: reading VEX statements: %w", err)
	}
	d.vex = x
	return nil
}

// recordWriter holds the prepared statements that write records.
type recordWriter struct {
	up, delCVE, addCVE *sql.Stmt
}

func newRecordWriter(ctx context.Context, tx *sql.Tx) (*recordWriter, error) {
	var w recordWriter
	var err error
	if w.up, err = tx.PrepareContext(ctx, `INSERT INTO vulns (id, source, modified, withdrawn, kev, vex, stix_created, stix_modified, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET source = excluded.source, modified = excluded.modified,
		withdrawn = excluded.withdrawn, kev = excluded.kev, vex = excluded.vex, stix_created = excluded.stix_created,
		stix_modified = excluded.stix_modified, data = excluded.data`); err != nil {
		return nil, fmt.Errorf("vulndb: prepare: %w", err)
	}
	if w.delCVE, err = tx.PrepareContext(ctx, `DELETE FROM vuln_cves WHERE id = ?`); err != nil {
		return nil, fmt.Errorf("vulndb: prepare: %w", err)
	}
	if w.addCVE, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO vuln_cves (cve, id) VALUES (?, ?)`); err != nil {
		return nil, fmt.Errorf("vulndb: prepare: %w", err)
	}
	return &w, nil
}

func (w *recordWriter) close() {
	for _, s := range []*sql.Stmt{w.up, w.delCVE, w.addCVE} {
		if s != nil {
			s.Close()
		}
	}
}

// putChange stores v as a new version after m and returns the change.
func (w *recordWriter) putChange(ctx context.Context, v *vuln.Vulnerability, m storedMeta, exists bool) (Change, error) {
	created, modified := stixTimes(v, fromNanos(m.created), fromNanos(m.smd))
	m.created, m.smd = nanos(created), nanos(modified)
	if err := w.put(ctx, v, m, exists); err != nil {
		return Change{}, err
	}
	return Change{Vuln: v, Created: created, Modified: modified, Replaced: exists}, nil
}

// put writes v with the STIX times of m.
func (w *recordWriter) put(ctx context.Context, v *vuln.Vulnerability, m storedMeta, exists bool) error {
	data, err := encodeRecord(v)
	if err != nil {
		return err
	}
	if _, err := w.up.ExecContext(ctx, v.ID, v.Source, nanos(v.Modified), boolInt(v.IsWithdrawn()), boolInt(v.KEV != nil),
		boolInt(!v.IsWithdrawn() && hasStatements(v)), m.created, m.smd, data); err != nil {
		return fmt.Errorf("vulndb: storing %s: %w", v.ID, err)
	}
	if exists {
		if _, err := w.delCVE.ExecContext(ctx, v.ID); err != nil {
			return fmt.Errorf("vulndb: storing %s: %w", v.ID, err)
		}
	}
	for _, c := range v.CVEs() {
		if _, err := w.addCVE.ExecContext(ctx, c, v.ID); err != nil {
			return fmt.Errorf("vulndb: storing %s: %w", v.ID, err)
		}
	}
	return nil
}

// stixTimes returns the STIX created and modified times of a new version
// of v after the version (prevCreated, prevModified), zero when none.
func stixTimes(v *vuln.Vulnerability, prevCreated, prevModified time.Time) (created, modified time.Time) {
	modified = v.Modified
	if v.KEV != nil && v.KEV.DateAdded.After(modified) {
		modified = v.KEV.DateAdded
	}
	if modified.IsZero() {
		modified = v.Published
	}
	if modified.IsZero() {
		modified = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	modified = modified.UTC().Truncate(time.Millisecond)
	if !prevModified.IsZero() && !modified.After(prevModified) {
		modified = prevModified.Add(time.Millisecond)
	}
	created = prevCreated
	if created.IsZero() {
		created = modified
		if p := v.Published.UTC().Truncate(time.Millisecond); !p.IsZero() && p.Before(created) {
			created = p
		}
	}
	return created, modified
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PutKEV stores a KEV catalogue: stored records whose CVE it lists get the
// KEV flag (a new STIX version and re-evaluated findings), and CVEs without
// a record get a placeholder record (Source "kev", no affected entries)
// that any real record replaces.
func (d *DB) PutKEV(ctx context.Context, cat vuln.KEVCatalog) (PutResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var res PutResult
	if err := d.syncLocked(ctx); err != nil {
		return res, err
	}
	if err := d.loadKEVLocked(ctx); err != nil {
		return res, err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("vulndb: begin: %w", err)
	}
	defer tx.Rollback()
	putKEV, err := tx.PrepareContext(ctx, `INSERT INTO kev (cve, data) VALUES (?, ?) ON CONFLICT (cve) DO UPDATE SET data = excluded.data`)
	if err != nil {
		return res, fmt.Errorf("vulndb: prepare: %w", err)
	}
	defer putKEV.Close()
	ids, err := tx.PrepareContext(ctx, `SELECT v.id, v.kev, v.source, v.modified, v.stix_created, v.stix_modified, v.data
		FROM vuln_cves c JOIN vulns v ON v.id = c.id WHERE c.cve = ?`)
	if err != nil {
		return res, fmt.Errorf("vulndb: prepare: %w", err)
	}
	defer ids.Close()
	w, err := newRecordWriter(ctx, tx)
	if err != nil {
		return res, err
	}
	defer w.close()
	for cve, k := range cat {
		data, err := json.Marshal(k)
		if err != nil {
			return res, fmt.Errorf("vulndb: encoding KEV entry %s: %w", cve, err)
		}
		if _, err := putKEV.ExecContext(ctx, cve, data); err != nil {
			return res, fmt.Errorf("vulndb: storing KEV entry %s: %w", cve, err)
		}
		d.kev[cve] = k
		type row struct {
			m    storedMeta
			data []byte
			id   string
		}
		var rows []row
		q, err := ids.QueryContext(ctx, cve)
		if err != nil {
			return res, fmt.Errorf("vulndb: KEV entry %s: %w", cve, err)
		}
		for q.Next() {
			var r row
			if err := q.Scan(&r.id, &r.m.kev, &r.m.source, &r.m.modified, &r.m.created, &r.m.smd, &r.data); err != nil {
				q.Close()
				return res, fmt.Errorf("vulndb: KEV entry %s: %w", cve, err)
			}
			rows = append(rows, r)
		}
		q.Close()
		if err := q.Err(); err != nil {
			return res, fmt.Errorf("vulndb: KEV entry %s: %w", cve, err)
		}
		if len(rows) == 0 {
			v := &vuln.Vulnerability{ID: cve, Source: SourceKEV, Summary: k.Name, KEV: &k}
			ch, err := w.putChange(ctx, v, storedMeta{}, false)
			if err != nil {
				return res, err
			}
			res.Added++
			res.Changes = append(res.Changes, ch)
			continue
		}
		for _, r := range rows {
			if r.m.kev {
				res.Unchanged++
				continue
			}
			v, err := decodeRecord(r.id, r.data)
			if err != nil {
				return res, err
			}
			kk := k
			v.KEV = &kk
			ch, err := w.putChange(ctx, v, r.m, true)
			if err != nil {
				return res, err
			}
			res.Updated++
			res.Changes = append(res.Changes, ch)
		}
	}
	if err := d.applyChangesLocked(ctx, tx, &res); err != nil {
		return res, err
	}
	return res, nil
}

// loadKEVLocked reads the stored catalogue once.
func (d *DB) loadKEVLocked(ctx context.Context) error {
	if d.kev != nil {
		return nil
	}
	rows, err := d.db.QueryContext(ctx, `SELECT cve, data FROM kev`)
	if err != nil {
		return fmt.Errorf("vulndb: reading KEV catalogue: %w", err)
	}
	defer rows.Close()
	cat := vuln.KEVCatalog{}
	for rows.Next() {
		var cve string
		var data []byte
		if err := rows.Scan(&cve, &data); err != nil {
			return fmt.Errorf("vulndb: reading KEV catalogue: %w", err)
		}
		var k vuln.KEV
		if err := json.Unmarshal(data, &k); err != nil {
			return fmt.Errorf("vulndb: decoding KEV entry %s: %w", cve, err)
		}
		cat[cve] = k
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("vulndb: reading KEV catalogue: %w", err)
	}
	d.kev = cat
	return nil
}

// loadMatchDBLocked builds the in-memory match index from the stored
// records once; later writes keep it up to date.
func (d *DB) loadMatchDBLocked(ctx context.Context) error {
	if d.mdb != nil {
		return nil
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, data FROM vulns WHERE withdrawn = 0 AND source != ?`, SourceKEV)
	if err != nil {
		return fmt.Errorf("vulndb: reading vulnerabilities: %w", err)
	}
	defer rows.Close()
	db := match.NewDB()
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return fmt.Errorf("vulndb: reading vulnerabilities: %w", err)
		}
		v, err := decodeRecord(id, data)
		if err != nil {
			return err
		}
		db.Add(v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("vulndb: reading vulnerabilities: %w", err)
	}
	d.mdb = db
	return d.loadVEXLocked(ctx, d.db)
}
