package vulndb

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// stixNamespace is the UUIDv5 namespace of Kizuna's vulnerability object
// ids (a random UUID chosen once; changing it changes every id).
var stixNamespace = [16]byte{0x6b, 0x69, 0x7a, 0x75, 0x6e, 0x61, 0x4c, 0x76, 0x9a, 0x1d, 0x5e, 0x0c, 0x2f, 0x43, 0x77, 0x01}

// STIXID returns the deterministic STIX id of the vulnerability object of
// a record id: "vulnerability--" and the UUIDv5 of the id in Kizuna's
// namespace.
func STIXID(recordID string) string {
	h := sha1.New()
	h.Write(stixNamespace[:])
	h.Write([]byte(recordID))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	s := hex.EncodeToString(u[:])
	return "vulnerability--" + s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// maxDescription bounds the description copied into the STIX object.
const maxDescription = 8000

// maxReferences bounds the reference URLs copied into the STIX object.
const maxReferences = 30

// STIX returns the STIX 2.1 vulnerability object of a change: the
// deterministic id (STIXID), name the record id, external_references
// with source "cve" for each CVE id and the record's own id and links,
// label "known-exploited" and property x_kizuna_kev when CISA KEV lists
// it, x_kizuna_aliases, revoked when the record is withdrawn, the given
// marking refs and, when createdBy is set, created_by_ref.
func STIX(ch Change, createdBy string, markings []string) (json.RawMessage, error) {
	v := ch.Vuln
	o := map[string]any{
		"type":         "vulnerability",
		"spec_version": "2.1",
		"id":           STIXID(v.ID),
		"created":      stixTime(ch.Created),
		"modified":     stixTime(ch.Modified),
		"name":         v.ID,
	}
	if createdBy != "" {
		o["created_by_ref"] = createdBy
	}
	if len(markings) > 0 {
		o["object_marking_refs"] = markings
	}
	desc := v.Summary
	if v.Details != "" {
		if desc != "" {
			desc += "\n\n"
		}
		desc += v.Details
	}
	if len(desc) > maxDescription {
		desc = strings.ToValidUTF8(desc[:maxDescription], "") + "…"
	}
	if desc != "" {
		o["description"] = desc
	}
	var refs []map[string]string
	seen := map[string]bool{}
	for _, c := range v.CVEs() {
		seen[c] = true
		refs = append(refs, map[string]string{"source_name": "cve", "external_id": c, "url": "https://www.cve.org/CVERecord?id=" + c})
	}
	for _, id := range append([]string{v.ID}, v.Aliases...) {
		if seen[id] || strings.HasPrefix(id, "CVE-") {
			continue
		}
		seen[id] = true
		src := strings.ToLower(v.Source)
		if p, _, ok := strings.Cut(id, "-"); ok && p != "" && !strings.Contains(id, "/") {
			src = strings.ToLower(p)
		}
		if src == "" {
			src = "advisory"
		}
		refs = append(refs, map[string]string{"source_name": src, "external_id": id})
	}
	for i, r := range v.References {
		if i == maxReferences {
			break
		}
		if r.URL == "" || seen[r.URL] {
			continue
		}
		seen[r.URL] = true
		refs = append(refs, map[string]string{"source_name": "reference", "url": r.URL})
	}
	if len(refs) > 0 {
		o["external_references"] = refs
	}
	if len(v.Aliases) > 0 {
		o["x_kizuna_aliases"] = v.Aliases
	}
	if v.Source != "" {
		o["x_kizuna_source"] = v.Source
	}
	if s, ok := v.MaxScore(); ok {
		o["x_kizuna_severity"] = rating(s)
		if s.Score > 0 {
			o["x_kizuna_cvss_score"] = s.Score
		}
	}
	if v.KEV != nil {
		o["labels"] = []string{"known-exploited"}
		o["x_kizuna_kev"] = kevProperty(v.KEV)
	}
	if v.IsWithdrawn() {
		o["revoked"] = true
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("vulndb: STIX object of %s: %w", v.ID, err)
	}
	return b, nil
}

func kevProperty(k *vuln.KEV) map[string]any {
	m := map[string]any{"date_added": k.DateAdded.UTC().Format("2006-01-02")}
	if !k.DueDate.IsZero() {
		m["due_date"] = k.DueDate.UTC().Format("2006-01-02")
	}
	if k.RequiredAction != "" {
		m["required_action"] = k.RequiredAction
	}
	if k.Ransomware != "" {
		m["known_ransomware_campaign_use"] = k.Ransomware
	}
	return m
}

func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
