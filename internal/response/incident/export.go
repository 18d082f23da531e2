package incident

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// ExtensionID is the id of Kizuna's incident extension-definition: a
// property extension of the STIX incident carrying the report's structured
// fields (ExtensionDefinition describes it).
const ExtensionID = "extension-definition--6f1c3b2e-8d4a-4c1e-9b7f-2a5d0e3c4b61"

// extensionCreated is the fixed creation time of the extension-definition,
// so that every export submits the very same object.
const extensionCreated = "2026-01-01T00:00:00.000Z"

// ExtensionSchema is the extension-definition's schema (plain text).
const ExtensionSchema = `Kizuna incident extension (property-extension of incident). Properties:
extension_type "property-extension" (required);
rsit_classification, rsit_type: values of the Reference Security Incident Taxonomy (RSIT);
severity: low, medium, high or critical; impact: none, low, medium or high;
occurred, detected: RFC 3339 timestamps; sector: the affected sector (omitted for anonymous reports);
affected_services: list of service names; case_state: new, triage, analysis, containment, resolved or closed.`

// ExtensionDefinition returns the extension-definition object (TLP:CLEAR,
// created by the hub identity hubID).
func ExtensionDefinition(hubID string) map[string]any {
	return map[string]any{
		"type": "extension-definition", "spec_version": "2.1", "id": ExtensionID,
		"created": extensionCreated, "modified": extensionCreated, "created_by_ref": hubID,
		"name": "Kizuna incident report", "description": "Structured fields of an incident reported to a Kizuna hub.",
		"schema": ExtensionSchema, "version": "1.0.0", "extension_types": []string{"property-extension"},
		"object_marking_refs": []string{sharing.TLP2Clear},
	}
}

// Publisher submits objects through the ingest pipeline (implemented by
// *ingest.Pipeline).
type Publisher interface {
	Submit(ctx context.Context, sub ingest.Submission, raws []json.RawMessage) (ingest.Result, error)
}

// ExportOptions configures Export.
type ExportOptions struct {
	// HubOrgID is the hub's identity id: the source of anonymous cases
	// and the creator of the extension-definition (required).
	HubOrgID string
	// Collection receives the objects.
	Collection string
}

// ExportResult is what an export published.
type ExportResult struct {
	IncidentID string            `json:"incident_id"`
	ReportID   string            `json:"report_id"`
	Objects    []json.RawMessage `json:"objects"`
}

// deterministicID derives a STIX id of typ from the case id, so that every
// export of a case is a new version of the same objects.
func deterministicID(typ, caseID string) string {
	h := sha256.Sum256([]byte("kizuna-case/" + typ + "/" + caseID))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%s--%x-%x-%x-%x-%x", typ, h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Objects builds the STIX export of a case at time now: the
// extension-definition, the incident with the extension, and a report
// referencing the incident and the linked objects. created_by_ref is the
// hub for anonymous cases and the reporting organisation otherwise. For
// AMBER and AMBER+STRICT the distribution extension names the affected
// organisations (without an anonymous reporter, who would be revealed);
// for RED it names the reporting user unless anonymous. The contact never
// leaves the hub.
func Objects(c *Case, hubID string, now time.Time) ([]json.RawMessage, string, string, error) {
	if hubID == "" {
		return nil, "", "", fmt.Errorf("%w: export: the hub has no organisation of type hub to act as source", errkind.Invalid)
	}
	level := c.Report.Level()
	marking := sharing.MarkingID(level)
	source := c.ReporterOrg
	if c.Anonymous {
		source = hubID
	}
	ts := now.UTC().Truncate(time.Millisecond)
	if c.Exported != "" {
		if prev, err := time.Parse(time.RFC3339Nano, c.Exported); err == nil && !ts.After(prev) {
			ts = prev.Add(time.Millisecond)
		}
	}
	modified := ts.Format("2006-01-02T15:04:05.000Z")
	created := c.Reported.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
	if created > modified {
		created = modified
	}
	ext := map[string]any{
		"extension_type":      "property-extension",
		"rsit_classification": c.Report.Classification, "rsit_type": c.Report.Type,
		"severity": c.Report.Severity, "impact": c.Report.Impact,
		"detected": c.Report.Detected.Format(time.RFC3339), "case_state": string(c.State),
	}
	if !c.Report.Occurred.IsZero() {
		ext["occurred"] = c.Report.Occurred.Format(time.RFC3339)
	}
	if c.Sector != "" && !c.Anonymous {
		ext["sector"] = c.Sector
	}
	if len(c.Report.AffectedServices) > 0 {
		ext["affected_services"] = c.Report.AffectedServices
	}
	exts := map[string]any{ExtensionID: ext}
	switch level {
	case sharing.TLPAmber, sharing.TLPAmberStrict:
		var orgs []string
		for _, o := range c.Affected {
			if c.Anonymous && o == c.ReporterOrg {
				continue
			}
			orgs = append(orgs, o)
		}
		if len(orgs) > 0 {
			exts[sharing.DistributionExtension] = map[string]any{"extension_type": "property-extension", "organizations": orgs}
		}
	case sharing.TLPRed:
		if !c.Anonymous && c.ReporterUser != "" {
			exts[sharing.DistributionExtension] = map[string]any{"extension_type": "property-extension", "users": []string{c.ReporterUser}}
		}
	}
	incID, repID := deterministicID("incident", c.ID), deterministicID("report", c.ID)
	inc := map[string]any{
		"type": "incident", "spec_version": "2.1", "id": incID, "created": created, "modified": modified,
		"created_by_ref": source, "name": c.Report.Title, "object_marking_refs": []string{marking},
		"extensions": exts,
	}
	if c.Report.Description != "" {
		inc["description"] = c.Report.Description
	}
	refs := []string{incID}
	for _, l := range c.Links {
		if l.ObjectID != repID && l.ObjectID != incID && !slices.Contains(refs, l.ObjectID) {
			refs = append(refs, l.ObjectID)
		}
	}
	rep := map[string]any{
		"type": "report", "spec_version": "2.1", "id": repID, "created": created, "modified": modified,
		"created_by_ref": source, "name": "Incident: " + c.Report.Title, "published": modified,
		"report_types": []string{"incident"}, "object_refs": refs, "object_marking_refs": []string{marking},
	}
	if c.Report.Description != "" {
		rep["description"] = c.Report.Description
	}
	var out []json.RawMessage
	for _, o := range []map[string]any{ExtensionDefinition(hubID), inc, rep} {
		b, err := json.Marshal(o)
		if err != nil {
			return nil, "", "", fmt.Errorf("export: encoding %s: %w", o["id"], err)
		}
		out = append(out, b)
	}
	return out, incID, repID, nil
}

// Export publishes a case (hub analysts only; not a new or merged case)
// through pub as the analyst p, and links the incident and the report (an
// advisory) to the case.
func (cs *Cases) Export(ctx context.Context, p sharing.Principal, id string, pub Publisher, opts ExportOptions) (ExportResult, error) {
	c, err := cs.load(ctx, cs.db, id)
	if err != nil {
		return ExportResult{}, err
	}
	if err := Authorize(p, &c, ActExport); err != nil {
		return ExportResult{}, err
	}
	if err := notMerged(&c); err != nil {
		return ExportResult{}, err
	}
	if c.State == StateNew {
		return ExportResult{}, fmt.Errorf("%w: case %s: field \"state\": triage the case before exporting it", errkind.Conflict, c.ID)
	}
	raws, incID, repID, err := Objects(&c, opts.HubOrgID, cs.now())
	if err != nil {
		return ExportResult{}, err
	}
	res, err := pub.Submit(ctx, ingest.Submission{Collection: opts.Collection, Principal: p}, raws)
	if err != nil {
		return ExportResult{}, fmt.Errorf("export of case %s: %w", c.ID, err)
	}
	if len(res.Failures) > 0 {
		f := res.Failures[0]
		return ExportResult{}, fmt.Errorf("%w: export of case %s: %s refused: %s", errkind.Unprocessable, c.ID, f.ID, f.Message)
	}
	var version string
	var inc map[string]any
	if err := json.Unmarshal(raws[1], &inc); err == nil {
		version, _ = inc["modified"].(string)
	}
	_, err = cs.one(ctx, p, ActExport, id, func(now time.Time, c *Case) error {
		for _, l := range []Link{{ObjectID: incID, Kind: LinkIncident}, {ObjectID: repID, Kind: LinkAdvisory}} {
			if !c.hasLink(l.ObjectID) {
				l.At, l.By = now, p.UserID
				c.Links = append(c.Links, l)
			}
		}
		c.IncidentID, c.ReportID, c.Exported = incID, repID, version
		c.event(now, p.UserID, "exported", incID+" "+repID+" "+c.Report.Level().String())
		return nil
	})
	if err != nil {
		return ExportResult{}, err
	}
	return ExportResult{IncidentID: incID, ReportID: repID, Objects: raws}, nil
}
