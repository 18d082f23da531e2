package csaf

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// TLP labels of CSAF 2.0 (TLP 1.0 names; WHITE is TLP 2.0's CLEAR), in
// the order the provider lists them.
var TLPLabels = []string{"WHITE", "GREEN", "AMBER", "RED"}

// Entry is one published advisory in the provider store.
type Entry struct {
	// ID is document.tracking.id.
	ID    string `json:"id"`
	Title string `json:"title"`
	// TLP is the CSAF label: WHITE, GREEN, AMBER or RED.
	TLP string `json:"tlp"`
	// Path is the document's path below the TLP directory:
	// "<yyyy>/<file>.json".
	Path               string `json:"path"`
	Version            string `json:"version"`
	InitialReleaseDate string `json:"initial_release_date"`
	CurrentReleaseDate string `json:"current_release_date"`
	// ProducerOrg and ProducerUser identify who published it; Orgs and
	// Users are the recipients named for AMBER and RED (sharing policy).
	ProducerOrg  string   `json:"producer_org,omitempty"`
	ProducerUser string   `json:"producer_user,omitempty"`
	Orgs         []string `json:"orgs,omitempty"`
	Users        []string `json:"users,omitempty"`
}

// Released returns the initial and current release dates (zero when
// malformed).
func (e Entry) Released() (initial, current time.Time) {
	return timeOf(e.InitialReleaseDate), timeOf(e.CurrentReleaseDate)
}

// Dir returns the TLP directory name of the entry ("white", ...).
func (e Entry) Dir() string { return strings.ToLower(e.TLP) }

// Publisher is the publisher named in provider-metadata.json.
type Publisher struct {
	Category       string `json:"category"`
	Name           string `json:"name"`
	Namespace      string `json:"namespace"`
	ContactDetails string `json:"contact_details,omitempty"`
}

// Provider is the CSAF provider store in a directory (DIR/csaf):
//
//	<tlp>/<yyyy>/<file>.json (+ .asc, .sha256, .sha512)
//	<tlp>/index.txt, <tlp>/changes.csv
//	advisories.json   the hub's own index (producer, recipients)
//	publisher.json    optional: the Publisher (else DefaultPublisher)
//
// provider-metadata.json and the ROLIE feeds carry absolute URLs and are
// rendered per request by Metadata and Feed.
type Provider struct {
	dir     string
	keyPath string
	now     func() time.Time

	mu     sync.Mutex // guards the following
	signer *Signer
	index  []Entry
	// stamp identifies the advisories.json the index was read from, so
	// that publications by another process (kizuna csaf publish while
	// kizuna serve runs) are picked up.
	stamp string
}

// DefaultPublisher is used when DIR/csaf/publisher.json does not exist.
var DefaultPublisher = Publisher{Category: "coordinator", Name: "Kizuna threat-intelligence sharing hub", Namespace: "https://kizuna.invalid"}

// NewProvider opens (lazily) the provider store in dataDir/csaf with the
// signing key at dataDir/keys/csaf.asc, generated on first use. now may be
// nil (time.Now).
func NewProvider(dataDir string, now func() time.Time) *Provider {
	if now == nil {
		now = time.Now
	}
	return &Provider{dir: filepath.Join(dataDir, "csaf"), keyPath: filepath.Join(dataDir, "keys", "csaf.asc"), now: now}
}

// Signer returns the hub's CSAF signing key, generating it on first use.
func (p *Provider) Signer() (*Signer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signerLocked()
}

func (p *Provider) signerLocked() (*Signer, error) {
	if p.signer != nil {
		return p.signer, nil
	}
	s, err := LoadOrCreateKey(p.keyPath, "Kizuna CSAF provider", p.now())
	if err != nil {
		return nil, err
	}
	p.signer = s
	return s, nil
}

// Publisher returns the configured publisher.
func (p *Provider) Publisher() Publisher {
	b, err := os.ReadFile(filepath.Join(p.dir, "publisher.json"))
	if err != nil {
		return DefaultPublisher
	}
	var pub Publisher
	if json.Unmarshal(b, &pub) != nil || pub.Name == "" || pub.Namespace == "" || pub.Category == "" {
		return DefaultPublisher
	}
	return pub
}

// Entries returns the published advisories, newest change first.
func (p *Provider) Entries() ([]Entry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadLocked(); err != nil {
		return nil, err
	}
	return slices.Clone(p.index), nil
}

// loadLocked (re)reads advisories.json when it changed since last read.
func (p *Provider) loadLocked() error {
	name := filepath.Join(p.dir, "advisories.json")
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		p.index, p.stamp = nil, ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading CSAF index: %w", err)
	}
	stamp := fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
	if stamp == p.stamp {
		return nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("reading CSAF index: %w", err)
	}
	var index []Entry
	if err := json.Unmarshal(b, &index); err != nil {
		return fmt.Errorf("CSAF index %s: %w", name, err)
	}
	p.index, p.stamp = index, stamp
	return nil
}

// FileName returns the file name the standard (section 5.1) gives a
// document with this tracking id: lower case, every character other than
// a-z, 0-9, '+' and '-' replaced by '_', plus ".json".
func FileName(trackingID string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(trackingID) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String() + ".json"
}

// PublishOptions names the producer and recipients of an advisory.
type PublishOptions struct {
	ProducerOrg, ProducerUser string
	Orgs, Users               []string
}

// Publish validates a complete CSAF document (see Complete for drafts),
// signs it, writes it with its hash files into the store and updates
// index.txt and changes.csv. The document must carry a TLP label. A new
// version of an already published tracking id replaces the old one (also
// when its TLP or year changed).
func (p *Provider) Publish(ctx context.Context, data []byte, opt PublishOptions) (Entry, error) {
	if err := Validate(data); err != nil {
		return Entry{}, err
	}
	m, err := decode(data)
	if err != nil {
		return Entry{}, err
	}
	d := doc(m)
	tr := d.tracking()
	e := Entry{
		ID: str(tr["id"]), Title: str(d.document()["title"]), Version: str(tr["version"]),
		InitialReleaseDate: str(tr["initial_release_date"]), CurrentReleaseDate: str(tr["current_release_date"]),
		TLP:         strings.ToUpper(str(obj(obj(d.document()["distribution"])["tlp"])["label"])),
		ProducerOrg: opt.ProducerOrg, ProducerUser: opt.ProducerUser, Orgs: opt.Orgs, Users: opt.Users,
	}
	if !slices.Contains(TLPLabels, e.TLP) {
		return Entry{}, fmt.Errorf("%w: document.distribution.tlp.label: required for publication (WHITE, GREEN, AMBER or RED)", errkind.Invalid)
	}
	if d.status() == "draft" {
		return Entry{}, fmt.Errorf("%w: document.tracking.status: a draft cannot be published (use final or interim)", errkind.Invalid)
	}
	t := timeOf(e.InitialReleaseDate)
	e.Path = fmt.Sprintf("%04d/%s", t.UTC().Year(), FileName(e.ID))
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadLocked(); err != nil {
		return Entry{}, err
	}
	s, err := p.signerLocked()
	if err != nil {
		return Entry{}, err
	}
	sig, err := s.Sign(data)
	if err != nil {
		return Entry{}, err
	}
	file := filepath.Join(p.dir, e.Dir(), filepath.FromSlash(e.Path))
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return Entry{}, fmt.Errorf("creating %s: %w", filepath.Dir(file), err)
	}
	base := path.Base(e.Path)
	s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
	for _, f := range []struct {
		name string
		body []byte
	}{
		{file, data},
		{file + ".asc", sig},
		{file + ".sha256", []byte(hex.EncodeToString(s256[:]) + "  " + base + "\n")},
		{file + ".sha512", []byte(hex.EncodeToString(s512[:]) + "  " + base + "\n")},
	} {
		if err := writeAtomic(f.name, f.body); err != nil {
			return Entry{}, err
		}
	}
	dirs := map[string]bool{e.Dir(): true}
	next := make([]Entry, 0, len(p.index)+1)
	for _, old := range p.index {
		if old.ID != e.ID {
			next = append(next, old)
			continue
		}
		dirs[old.Dir()] = true
		if old.Dir() != e.Dir() || old.Path != e.Path {
			oldFile := filepath.Join(p.dir, old.Dir(), filepath.FromSlash(old.Path))
			for _, ext := range []string{"", ".asc", ".sha256", ".sha512"} {
				if err := os.Remove(oldFile + ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return Entry{}, fmt.Errorf("removing the previous version: %w", err)
				}
			}
		}
	}
	next = append(next, e)
	sort.SliceStable(next, func(i, j int) bool {
		return timeOf(next[i].CurrentReleaseDate).After(timeOf(next[j].CurrentReleaseDate))
	})
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return Entry{}, err
	}
	if err := writeAtomic(filepath.Join(p.dir, "advisories.json"), b); err != nil {
		return Entry{}, err
	}
	p.index = next
	for dir := range dirs {
		if err := p.writeListsLocked(dir); err != nil {
			return Entry{}, err
		}
	}
	return e, nil
}

// writeListsLocked writes index.txt and changes.csv of one TLP directory.
func (p *Provider) writeListsLocked(dir string) error {
	var kept []Entry
	for _, e := range p.index { // newest first
		if e.Dir() == dir {
			kept = append(kept, e)
		}
	}
	index, changes := renderLists(kept)
	if err := os.MkdirAll(filepath.Join(p.dir, dir), 0o750); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(p.dir, dir, "index.txt"), index); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(p.dir, dir, "changes.csv"), changes)
}

// writeAtomic writes a file through a temporary file and a rename.
func writeAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// Open returns a file of a TLP directory ("index.txt", "changes.csv",
// "<yyyy>/<file>.json" and its .asc, .sha256 and .sha512). Other names,
// and names that try to leave the directory, are errkind.NotFound.
func (p *Provider) Open(tlpDir, name string) ([]byte, error) {
	if !slices.Contains(TLPLabels, strings.ToUpper(tlpDir)) || tlpDir != strings.ToLower(tlpDir) {
		return nil, fmt.Errorf("%w: no TLP directory %q", errkind.NotFound, tlpDir)
	}
	ok := name == "index.txt" || name == "changes.csv"
	if !ok {
		year, file, found := strings.Cut(name, "/")
		ok = found && len(year) == 4 && strings.Trim(year, "0123456789") == "" && !strings.Contains(file, "/") &&
			file != "" && !strings.HasPrefix(file, ".") && strings.Trim(file, "abcdefghijklmnopqrstuvwxyz0123456789+-_.") == "" &&
			(strings.HasSuffix(file, ".json") || strings.HasSuffix(file, ".json.asc") || strings.HasSuffix(file, ".json.sha256") || strings.HasSuffix(file, ".json.sha512"))
	}
	if !ok {
		return nil, fmt.Errorf("%w: no CSAF file %q", errkind.NotFound, name)
	}
	b, err := os.ReadFile(filepath.Join(p.dir, tlpDir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no CSAF file %q", errkind.NotFound, name)
	}
	return b, err
}

// Listing returns the year directories ("2024/") of a TLP directory that hold
// advisories, ascending, and the files of one year when year is not "".
func (p *Provider) Listing(tlpDir, year string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loadLocked() != nil {
		return nil
	}
	set := map[string]bool{}
	for _, e := range p.index {
		if e.Dir() != tlpDir {
			continue
		}
		y, f, _ := strings.Cut(e.Path, "/")
		if year == "" {
			set[y+"/"] = true
		} else if y == year {
			for _, ext := range []string{"", ".asc", ".sha256", ".sha512"} {
				set[f+ext] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
