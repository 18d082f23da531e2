package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// State is what a source remembers between runs. The zero State fetches
// everything; Sync updates it.
type State struct {
	// Lists holds the validators of each ROLIE feed, changes.csv and
	// index.txt whose advisories were all handled.
	Lists map[string]Validators `json:"lists,omitempty"`
	// Docs holds the listed update time of each advisory handled
	// (imported, or withheld by the Sink).
	Docs map[string]string `json:"docs,omitempty"`
}

// Document is a downloaded advisory whose hash, signature, file name and
// content were verified.
type Document struct {
	URL  string
	Data []byte
	// TLP is the more restrictive of the document's label and its
	// feed's, WHITE for an unlabelled document of a public list; ""
	// when unknown (an unlabelled document read with a token from a list
	// without a label).
	TLP string
	// TrackingID and Version are document.tracking.id and .version.
	TrackingID, Version string
	// Updated is the listed time of the last change ("" for index.txt).
	Updated string
}

// Sink receives verified documents in batches. It returns the documents
// it could not take (by URL, with the reason); they are reported as failed
// and fetched again on the next run. A non-nil error stops the run.
type Sink func(ctx context.Context, docs []Document) (failed map[string]error, err error)

// Failure is an advisory or a list that was not taken.
type Failure struct {
	URL string
	Err error
}

// Error returns the reason with the URL, once.
func (f Failure) Error() string {
	msg := f.Err.Error()
	if strings.Contains(msg, f.URL) {
		return msg
	}
	return f.URL + ": " + msg
}

// Unwrap returns the reason.
func (f Failure) Unwrap() error { return f.Err }

// Report is the outcome of a Sync.
type Report struct {
	// MetadataURL is where provider-metadata.json was found.
	MetadataURL string
	// Listed counts the advisories the lists name; Unchanged those
	// skipped because their listed time is the one already handled;
	// Fetched those downloaded and verified; Failed those (and the
	// lists) that failed.
	Listed, Unchanged, Fetched, Failed int
	// Skipped names the feeds and directories not read (no token for
	// their TLP label, or not modified since the last run).
	Skipped []string
	// Failures gives each failed advisory or list with the reason.
	Failures []Failure
	// KeyProblems lists public keys of the metadata that could not be
	// used.
	KeyProblems []string
}

// batchSize is the number of documents handed to the Sink at once.
const batchSize = 100

// list is one ROLIE feed or directory distribution to read.
type list struct {
	url *url.URL // the feed, or the directory (ending in "/")
	tlp string   // "" when unknown
	dir bool
}

// item is one advisory to download.
type item struct {
	Listed
	url  *url.URL
	tlp  string
	list string
}

// Sync discovers the provider at raw (see Discover), lists its advisories
// and hands those new or changed since st to sink, verified. st may be
// nil (fetch everything). The error is non-nil when the provider could not
// be used at all (no metadata, no key), or sink or ctx failed; failures of
// single lists and advisories are in the report.
func (c *Client) Sync(ctx context.Context, raw string, st *State, sink Sink) (Report, error) {
	var rep Report
	if st == nil {
		st = &State{}
	}
	if st.Lists == nil {
		st.Lists = map[string]Validators{}
	}
	if st.Docs == nil {
		st.Docs = map[string]string{}
	}
	p, err := c.Discover(ctx, raw)
	if err != nil {
		return rep, err
	}
	rep.MetadataURL, rep.KeyProblems = p.MetadataURL.String(), p.KeyProblems
	authHost := p.MetadataURL.Host
	var items []item
	seen := map[string]bool{}
	complete := true // every list read in full: st.Docs can be pruned to what they list
	newValidators := map[string]Validators{}
	for _, l := range c.lists(p) {
		if l.tlp != "WHITE" && c.token == "" && (l.tlp != "" || !l.dir) {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s (TLP:%s, no token)", l.url.Redacted(), l.tlp))
			continue
		}
		listed, listURL, v, err := c.readList(ctx, l, authHost, st)
		switch {
		case err != nil && l.tlp == "" && c.token == "" && (errors.Is(err, errkind.Unauthorized) || errors.Is(err, errkind.Forbidden)):
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s (access-protected, no token)", l.url.Redacted()))
			continue
		case err != nil:
			rep.Failed++
			rep.Failures = append(rep.Failures, Failure{URL: l.url.Redacted(), Err: err})
			complete = false
			continue
		case listed == nil && v != nil:
			rep.Skipped = append(rep.Skipped, listURL+" (not modified)")
			complete = false
			continue
		}
		if v != nil {
			newValidators[listURL] = *v
		}
		for _, li := range listed {
			ref, err := url.Parse(li.URL)
			var u *url.URL
			if err == nil {
				u = l.url.ResolveReference(ref)
				err = checkURL(u)
			}
			if err != nil {
				rep.Failed++
				rep.Failures = append(rep.Failures, Failure{URL: li.URL, Err: fmt.Errorf("listed in %s: %w", listURL, err)})
				delete(newValidators, listURL)
				continue
			}
			key := u.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			rep.Listed++
			if li.Updated != "" && st.Docs[key] == li.Updated {
				rep.Unchanged++
				continue
			}
			items = append(items, item{Listed: li, url: u, tlp: l.tlp, list: listURL})
		}
	}
	// Download in parallel, hand over in batches.
	failedLists := map[string]bool{}
	for start := 0; start < len(items); start += batchSize {
		chunk := items[start:min(start+batchSize, len(items))]
		docs := make([]*Document, len(chunk))
		errs := make([]error, len(chunk))
		var wg sync.WaitGroup
		next := make(chan int)
		for range c.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					docs[i], errs[i] = c.fetchAdvisory(ctx, chunk[i], p.Keys, authHost)
				}
			}()
		}
		for i := range chunk {
			next <- i
		}
		close(next)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		var good []Document
		for i, it := range chunk {
			if errs[i] != nil {
				rep.Failed++
				rep.Failures = append(rep.Failures, Failure{URL: it.url.Redacted(), Err: errs[i]})
				failedLists[it.list] = true
				continue
			}
			good = append(good, *docs[i])
		}
		rep.Fetched += len(good)
		if len(good) == 0 {
			continue
		}
		failed, err := sink(ctx, good)
		if err != nil {
			return rep, err
		}
		for _, d := range good {
			if ferr, bad := failed[d.URL]; bad {
				rep.Failed++
				rep.Failures = append(rep.Failures, Failure{URL: d.URL, Err: ferr})
				for _, it := range chunk {
					if it.url.String() == d.URL {
						failedLists[it.list] = true
					}
				}
				continue
			}
			st.Docs[d.URL] = d.Updated
		}
	}
	if complete {
		for u := range st.Docs {
			if !seen[u] {
				delete(st.Docs, u) // no longer listed
			}
		}
	}
	for u, v := range newValidators {
		if !failedLists[u] && (v.ETag != "" || v.LastModified != "") {
			st.Lists[u] = v
		} else {
			delete(st.Lists, u)
		}
	}
	return rep, nil
}

// lists returns what to read: the ROLIE feeds when the provider has any
// (section 7.3.2 prefers them), else its directory distributions.
func (c *Client) lists(p *Provider) []list {
	var feeds, dirs []list
	for _, d := range p.Metadata.Distributions {
		if d.Rolie != nil {
			for _, f := range d.Rolie.Feeds {
				u, err := p.MetadataURL.Parse(f.URL)
				if err != nil {
					continue
				}
				feeds = append(feeds, list{url: u, tlp: strings.ToUpper(f.TLPLabel)})
			}
		}
		if d.DirectoryURL != "" {
			u, err := p.MetadataURL.Parse(d.DirectoryURL)
			if err != nil {
				continue
			}
			if !strings.HasSuffix(u.Path, "/") {
				u.Path += "/"
			}
			// Kizuna and many providers name the directory after its
			// label (".../white/").
			tlp := strings.ToUpper(path.Base(u.Path))
			if !slices.Contains(csaf.TLPLabels, tlp) {
				tlp = ""
			}
			dirs = append(dirs, list{url: u, tlp: tlp, dir: true})
		}
	}
	if len(feeds) > 0 {
		return feeds
	}
	return dirs
}

// readList reads a feed, or a directory's changes.csv (index.txt when it
// has none), conditionally on the validators of the last run. A list not
// modified gives nil entries and non-nil validators.
func (c *Client) readList(ctx context.Context, l list, authHost string, st *State) ([]Listed, string, *Validators, error) {
	get := func(u *url.URL) (response, error) {
		var cond *Validators
		if v, ok := st.Lists[u.String()]; ok {
			cond = &v
		}
		return c.get(ctx, u, MaxListSize, authHost, cond)
	}
	if !l.dir {
		r, err := get(l.url)
		if err != nil {
			return nil, l.url.String(), nil, err
		}
		if r.notModified {
			return nil, l.url.String(), &r.validators, nil
		}
		ls, err := parseFeed(l.url.Redacted(), r.body, l.url.Scheme == "http")
		return ls, l.url.String(), &r.validators, err
	}
	cu := l.url.JoinPath("changes.csv")
	r, err := get(cu)
	parse := ParseChangesCSV
	if errors.Is(err, errkind.NotFound) {
		cu = l.url.JoinPath("index.txt")
		r, err = get(cu)
		parse = ParseIndex
	}
	if err != nil {
		return nil, cu.String(), nil, err
	}
	if r.notModified {
		return nil, cu.String(), &r.validators, nil
	}
	ls, err := parse(cu.Redacted(), r.body)
	return ls, cu.String(), &r.validators, err
}

// tlpRank orders the CSAF TLP labels; unknown labels rank highest.
func tlpRank(l string) int {
	if i := slices.Index(csaf.TLPLabels, l); i >= 0 {
		return i
	}
	return len(csaf.TLPLabels)
}

// fetchAdvisory downloads an advisory, its hashes and its signature and
// verifies them.
func (c *Client) fetchAdvisory(ctx context.Context, it item, keys openpgp.EntityList, authHost string) (*Document, error) {
	if !strings.HasSuffix(it.url.Path, ".json") {
		return nil, fmt.Errorf("not a .json file: %w", errkind.Invalid)
	}
	r, err := c.get(ctx, it.url, MaxAdvisorySize, authHost, nil)
	if err != nil {
		return nil, err
	}
	data := r.body
	if err := c.checkHashes(ctx, it, data, authHost); err != nil {
		return nil, err
	}
	sigURL := it.url.String() + ".asc"
	if it.Signature != "" {
		sigURL = it.Signature
	}
	su, err := it.url.Parse(sigURL)
	if err != nil {
		return nil, fmt.Errorf("signature URL %q: %v: %w", sigURL, err, errkind.Invalid)
	}
	sr, err := c.get(ctx, su, maxSmallFile, authHost, nil)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if _, err := openpgp.CheckArmoredDetachedSignature(keys, bytes.NewReader(data), bytes.NewReader(sr.body), nil); err != nil {
		return nil, fmt.Errorf("signature %s does not verify with the provider's keys: %v: %w", su.Redacted(), err, errkind.Invalid)
	}
	if err := csaf.Validate(data); err != nil {
		if !errors.Is(err, errkind.Invalid) {
			err = fmt.Errorf("%w: %w", err, errkind.Invalid)
		}
		return nil, err
	}
	var head struct {
		Document struct {
			Distribution struct {
				TLP struct {
					Label string `json:"label"`
				} `json:"tlp"`
			} `json:"distribution"`
			Tracking struct {
				ID      string `json:"id"`
				Version string `json:"version"`
			} `json:"tracking"`
		} `json:"document"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errkind.Invalid)
	}
	tr := head.Document.Tracking
	if want := csaf.FileName(tr.ID); path.Base(it.url.Path) != want {
		return nil, fmt.Errorf("file name %s does not match the tracking id %q (want %s, section 5.1): %w", path.Base(it.url.Path), tr.ID, want, errkind.Invalid)
	}
	d := &Document{URL: it.url.String(), Data: data, TrackingID: tr.ID, Version: tr.Version, Updated: it.Updated}
	label := strings.ToUpper(head.Document.Distribution.TLP.Label)
	switch {
	case label != "" && it.tlp != "":
		d.TLP = label
		if tlpRank(it.tlp) > tlpRank(label) {
			d.TLP = it.tlp
		}
	case label != "":
		d.TLP = label
	case it.tlp != "":
		d.TLP = it.tlp
	case c.token == "":
		d.TLP = "WHITE" // read without credentials: public
	}
	return d, nil
}

// checkHashes verifies the SHA-256 and SHA-512 files of an advisory: every
// one present must match, and at least one must be present.
func (c *Client) checkHashes(ctx context.Context, it item, data []byte, authHost string) error {
	hashes := it.Hashes
	if len(hashes) == 0 {
		hashes = []string{it.url.String() + ".sha256", it.url.String() + ".sha512"}
	}
	checked := 0
	for _, h := range hashes {
		hu, err := it.url.Parse(h)
		if err != nil {
			return fmt.Errorf("hash URL %q: %v: %w", h, err, errkind.Invalid)
		}
		var sum []byte
		switch {
		case strings.HasSuffix(hu.Path, ".sha256"):
			s := sha256.Sum256(data)
			sum = s[:]
		case strings.HasSuffix(hu.Path, ".sha512"):
			s := sha512.Sum512(data)
			sum = s[:]
		default:
			continue
		}
		r, err := c.get(ctx, hu, maxSmallFile, authHost, nil)
		if errors.Is(err, errkind.NotFound) && len(it.Hashes) == 0 {
			continue // the provider may publish only one of them
		}
		if err != nil {
			return fmt.Errorf("hash: %w", err)
		}
		fields := strings.Fields(string(r.body))
		if len(fields) == 0 {
			return fmt.Errorf("hash file %s is empty: %w", hu.Redacted(), errkind.Invalid)
		}
		if !strings.EqualFold(fields[0], hex.EncodeToString(sum)) {
			return fmt.Errorf("hash mismatch: %s says %.16s…, the document's is %.16s…: %w", hu.Redacted(), fields[0], hex.EncodeToString(sum), errkind.Invalid)
		}
		checked++
	}
	if checked == 0 {
		return fmt.Errorf("no .sha256 or .sha512 hash file: %w", errkind.Invalid)
	}
	return nil
}
