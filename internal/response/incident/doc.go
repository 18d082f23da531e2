// Package incident implements incident reporting and case handling (issue
// #6 items 1-2): the report a constituent submits (Report, ParseReport),
// classified with the Reference Security Incident Taxonomy (RSIT, rsit.txt);
// the case it becomes for hub analysts (Cases, kept in DIR/cases.db) with
// its state machine, assignment, comments, timeline, links to STIX objects,
// acknowledgements and merging of duplicates; the export of a case as a
// STIX 2.1 incident carrying Kizuna's incident extension (ExtensionID) and
// a report, published through the ingest pipeline under the case's TLP; and
// the cycle metrics (time to triage, to advisory, until every affected
// organisation acknowledged) per case and anonymised per month and sector.
//
// Who may do what is decided here, from the sharing.Principal: reporters
// see and comment on their own organisation's cases; hub analysts see and
// manage every case. An anonymous report is known to the hub only: exports
// name the hub as their source and never the reporter's identity.
package incident
