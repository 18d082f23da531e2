package fetch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Listed is one advisory a ROLIE feed or a directory distribution lists.
type Listed struct {
	// URL is the advisory's URL (absolute, or relative to the list for
	// changes.csv and index.txt before resolution).
	URL string
	// Updated is the listed time of the last change ("" when the list
	// has none: index.txt).
	Updated string
	// Hashes and Signature are the URLs of the hash files and the
	// signature a ROLIE entry links to (empty: URL + ".sha256",
	// ".sha512", ".asc").
	Hashes    []string
	Signature string
}

// rolieFeed is the part of a ROLIE feed Kizuna reads.
type rolieFeed struct {
	Feed *struct {
		ID    string `json:"id"`
		Entry []struct {
			ID      string `json:"id"`
			Updated string `json:"updated"`
			Link    []struct {
				Rel  string `json:"rel"`
				Href string `json:"href"`
			} `json:"link"`
			Content struct {
				Src string `json:"src"`
			} `json:"content"`
		} `json:"entry"`
	} `json:"feed"`
}

// ParseFeed validates a ROLIE feed against the CSAF 2.0 ROLIE schema and
// returns its entries: the advisory (the "self" link, else content.src),
// its "hash" and "signature" links and its updated time. name is used in
// messages; errors wrap errkind.Invalid.
func ParseFeed(name string, data []byte) ([]Listed, error) {
	return parseFeed(name, data, false)
}

// parseFeed is ParseFeed; plainHTTP is set for a feed read over plain HTTP
// from a loopback address (tests, kizuna demo): the schema's https
// patterns are then checked against the https form of its URLs.
func parseFeed(name string, data []byte, plainHTTP bool) ([]Listed, error) {
	var f rolieFeed
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: ROLIE feed: %v: %w", name, err, errkind.Invalid)
	}
	if f.Feed == nil {
		return nil, fmt.Errorf("%s: ROLIE feed: no \"feed\" member: %w", name, errkind.Invalid)
	}
	checked := data
	if plainHTTP {
		checked = bytes.ReplaceAll(data, []byte(`"http://`), []byte(`"https://`))
	}
	if err := csaf.ValidateFeed(checked); err != nil {
		if !errors.Is(err, errkind.Invalid) {
			err = fmt.Errorf("%w: %w", err, errkind.Invalid)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make([]Listed, 0, len(f.Feed.Entry))
	for i, e := range f.Feed.Entry {
		l := Listed{Updated: e.Updated}
		for _, k := range e.Link {
			switch k.Rel {
			case "self":
				l.URL = k.Href
			case "hash":
				l.Hashes = append(l.Hashes, k.Href)
			case "signature":
				l.Signature = k.Href
			}
		}
		if l.URL == "" {
			l.URL = e.Content.Src
		}
		if l.URL == "" {
			return nil, fmt.Errorf("%s: feed.entry[%d] (%s): no self link and no content.src: %w", name, i, e.ID, errkind.Invalid)
		}
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil {
			return nil, fmt.Errorf("%s: feed.entry[%d].updated: %q is not RFC 3339: %w", name, i, e.Updated, errkind.Invalid)
		}
		out = append(out, l)
	}
	return out, nil
}

// ParseChangesCSV reads a changes.csv (CSAF 2.0 requirement 13): one
// record per line, the advisory's path relative to the directory and the
// time of its last change (RFC 3339), both usually quoted. Paths must be
// relative and stay inside the directory. name is used in messages; errors
// wrap errkind.Invalid and give the line.
func ParseChangesCSV(name string, data []byte) ([]Listed, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 2
	r.ReuseRecord = true
	var out []Listed
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, errkind.Invalid)
		}
		line, _ := r.FieldPos(0)
		p, ts := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if err := checkRelPath(p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			return nil, fmt.Errorf("%s:%d: time %q is not RFC 3339: %w", name, line, ts, errkind.Invalid)
		}
		out = append(out, Listed{URL: p, Updated: ts})
	}
}

// ParseIndex reads an index.txt (requirement 12): one path per line,
// relative to the directory. Empty lines are ignored.
func ParseIndex(name string, data []byte) ([]Listed, error) {
	var out []Listed
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if err := checkRelPath(p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, Listed{URL: p})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v: %w", name, line+1, err, errkind.Invalid)
	}
	return out, nil
}

// checkRelPath accepts a relative path to a .json file that does not
// leave its directory.
func checkRelPath(p string) error {
	switch {
	case p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "://") || strings.ContainsAny(p, "\\?#%"):
		return fmt.Errorf("path %q: want a path relative to the directory: %w", p, errkind.Invalid)
	case !strings.HasSuffix(p, ".json"):
		return fmt.Errorf("path %q: not a .json file: %w", p, errkind.Invalid)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("path %q: empty, '.' or '..' segment: %w", p, errkind.Invalid)
		}
	}
	return nil
}
