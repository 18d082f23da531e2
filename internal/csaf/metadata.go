package csaf

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// WellKnown is the path below which the provider is served.
const WellKnown = "/.well-known/csaf"

// FeedName returns the ROLIE feed file name of a TLP label
// ("csaf-feed-tlp-white.json").
func FeedName(tlp string) string { return "csaf-feed-tlp-" + strings.ToLower(tlp) + ".json" }

// TLPs returns the labels that have advisories visible accepts (nil:
// all), in TLPLabels order; WHITE is always included.
func (p *Provider) TLPs(visible func(Entry) bool) ([]string, error) {
	es, err := p.Entries()
	if err != nil {
		return nil, err
	}
	out := []string{"WHITE"}
	for _, t := range TLPLabels[1:] {
		if slices.ContainsFunc(es, func(e Entry) bool { return e.TLP == t && (visible == nil || visible(e)) }) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Metadata renders provider-metadata.json for a provider served at base
// (scheme://host[:port], no trailing slash), role csaf_trusted_provider,
// with a directory and a ROLIE distribution per TLP label that has
// advisories visible accepts (nil: all; WHITE is always listed).
func (p *Provider) Metadata(base string, visible func(Entry) bool) ([]byte, error) {
	s, err := p.Signer()
	if err != nil {
		return nil, err
	}
	tlps, err := p.TLPs(visible)
	if err != nil {
		return nil, err
	}
	es, err := p.Entries()
	if err != nil {
		return nil, err
	}
	root := base + WellKnown
	var dists []any
	var feeds []any
	for _, t := range tlps {
		dir := strings.ToLower(t)
		dists = append(dists, map[string]any{"directory_url": root + "/" + dir + "/"})
		feeds = append(feeds, map[string]any{
			"summary":   "TLP:" + t + " advisories",
			"tlp_label": t,
			"url":       root + "/" + dir + "/" + FeedName(t),
		})
	}
	dists = append(dists, map[string]any{"rolie": map[string]any{"feeds": feeds}})
	updated := time.Unix(0, 0).UTC()
	if len(es) > 0 {
		updated = timeOf(es[0].CurrentReleaseDate).UTC()
	}
	m := map[string]any{
		"canonical_url":              root + "/provider-metadata.json",
		"distributions":              dists,
		"last_updated":               updated.Format(time.RFC3339),
		"list_on_CSAF_aggregators":   true,
		"metadata_version":           "2.0",
		"mirror_on_CSAF_aggregators": true,
		"public_openpgp_keys": []any{map[string]any{
			"fingerprint": s.Fingerprint(),
			"url":         root + "/openpgp/" + s.Fingerprint() + ".asc",
		}},
		"publisher": p.Publisher(),
		"role":      "csaf_trusted_provider",
	}
	return json.MarshalIndent(m, "", "  ")
}

// Feed renders the ROLIE feed of one TLP label for a provider served at
// base: one entry per advisory that visible accepts (nil: all), with links
// to the document, its signature and its hashes.
func (p *Provider) Feed(base, tlp string, visible func(Entry) bool) ([]byte, error) {
	tlp = strings.ToUpper(tlp)
	if !slices.Contains(TLPLabels, tlp) {
		return nil, fmt.Errorf("unknown TLP label %q", tlp)
	}
	es, err := p.Entries()
	if err != nil {
		return nil, err
	}
	dirURL := base + WellKnown + "/" + strings.ToLower(tlp) + "/"
	entries := []any{}
	updated := time.Unix(0, 0).UTC()
	for _, e := range es {
		if e.TLP != tlp || (visible != nil && !visible(e)) {
			continue
		}
		u := dirURL + e.Path
		if t := timeOf(e.CurrentReleaseDate).UTC(); t.After(updated) {
			updated = t
		}
		entries = append(entries, map[string]any{
			"id":        e.ID,
			"title":     e.Title,
			"published": timeOf(e.InitialReleaseDate).UTC().Format(time.RFC3339),
			"updated":   timeOf(e.CurrentReleaseDate).UTC().Format(time.RFC3339),
			"link": []any{
				map[string]any{"rel": "self", "href": u},
				map[string]any{"rel": "signature", "href": u + ".asc"},
				map[string]any{"rel": "hash", "href": u + ".sha256"},
				map[string]any{"rel": "hash", "href": u + ".sha512"},
			},
			"content": map[string]any{"type": "application/json", "src": u},
			"format":  map[string]any{"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"},
		})
	}
	feed := map[string]any{"feed": map[string]any{
		"id":       "kizuna-csaf-feed-tlp-" + strings.ToLower(tlp),
		"title":    "Kizuna CSAF feed (TLP:" + tlp + ")",
		"link":     []any{map[string]any{"rel": "self", "href": dirURL + FeedName(tlp)}},
		"category": []any{map[string]any{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}},
		"updated":  updated.Format(time.RFC3339),
		"entry":    entries,
	}}
	return json.MarshalIndent(feed, "", "  ")
}

// Lists renders index.txt and changes.csv of one TLP label with the
// advisories that visible accepts (nil: all), as the standard's
// requirements 12 and 13 describe: index.txt lists the paths relative to
// the TLP directory, changes.csv the paths and current release dates,
// newest first.
func (p *Provider) Lists(tlp string, visible func(Entry) bool) (index, changes []byte, err error) {
	es, err := p.Entries()
	if err != nil {
		return nil, nil, err
	}
	var kept []Entry
	for _, e := range es {
		if e.TLP == strings.ToUpper(tlp) && (visible == nil || visible(e)) {
			kept = append(kept, e)
		}
	}
	index, changes = renderLists(kept)
	return index, changes, nil
}

// renderLists renders index.txt and changes.csv of entries sorted newest
// first.
func renderLists(es []Entry) (index, changes []byte) {
	var ib, cb strings.Builder
	paths := make([]string, 0, len(es))
	for _, e := range es {
		paths = append(paths, e.Path)
		fmt.Fprintf(&cb, "%q,%q\n", e.Path, timeOf(e.CurrentReleaseDate).UTC().Format(time.RFC3339))
	}
	slices.Sort(paths)
	for _, p := range paths {
		ib.WriteString(p + "\n")
	}
	return []byte(ib.String()), []byte(cb.String())
}

// Lookup returns the entry whose document (or one of its .asc, .sha256
// and .sha512 files) is at name ("<yyyy>/<file>...") in a TLP directory.
func (p *Provider) Lookup(tlpDir, name string) (Entry, bool) {
	for _, ext := range []string{".asc", ".sha256", ".sha512"} {
		name = strings.TrimSuffix(name, ext)
	}
	es, err := p.Entries()
	if err != nil {
		return Entry{}, false
	}
	for _, e := range es {
		if e.Dir() == tlpDir && e.Path == name {
			return e, true
		}
	}
	return Entry{}, false
}

// rolieCSAF is the ROLIE information-type category of CSAF feeds.
var rolieCSAF = map[string]any{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}

// ServiceDocument renders the ROLIE service document (requirement 16,
// served next to provider-metadata.json as service.json) listing the
// feeds of provider-metadata.json (the same visible filter applies).
func (p *Provider) ServiceDocument(base string, visible func(Entry) bool) ([]byte, error) {
	tlps, err := p.TLPs(visible)
	if err != nil {
		return nil, err
	}
	var cols []any
	for _, t := range tlps {
		cols = append(cols, map[string]any{
			"title":      "TLP:" + t + " advisories",
			"href":       base + WellKnown + "/" + strings.ToLower(t) + "/" + FeedName(t),
			"categories": map[string]any{"category": []any{rolieCSAF}},
		})
	}
	return json.MarshalIndent(map[string]any{"service": map[string]any{"workspace": []any{
		map[string]any{"title": "Kizuna CSAF advisories", "collection": cols},
	}}}, "", "  ")
}

// CategoryName returns the ROLIE category document name of a TLP label
// ("category-white.json").
func CategoryName(tlp string) string { return "category-" + strings.ToLower(tlp) + ".json" }

// CategoryDocument renders the ROLIE category document of a feed
// (requirement 17): the CSAF information type and the TLP label.
func CategoryDocument(tlp string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{"categories": map[string]any{"category": []any{
		rolieCSAF,
		map[string]any{"scheme": "urn:kizuna:csaf:tlp", "term": strings.ToUpper(tlp)},
	}}}, "", "  ")
}

// SecurityTxt renders a security.txt (RFC 9116) with the CSAF field that
// points to provider-metadata.json (requirement 8). contact is the
// Contact field (a mailto: or https: URI; the publisher's namespace when
// empty).
func (p *Provider) SecurityTxt(base, contact string, now time.Time) []byte {
	if contact == "" {
		contact = p.Publisher().Namespace
	}
	return []byte("Contact: " + contact + "\n" +
		"Expires: " + now.UTC().AddDate(1, 0, 0).Truncate(24*time.Hour).Format(time.RFC3339) + "\n" +
		"CSAF: " + base + WellKnown + "/provider-metadata.json\n")
}
