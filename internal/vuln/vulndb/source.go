package vulndb

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/intake"
)

// Format names a vulnerability source format.
type Format string

// The formats Parse reads.
const (
	FormatCVE5    Format = "cve5"
	FormatNVD     Format = "nvd"
	FormatOSV     Format = "osv"
	FormatOSVYAML Format = "osv-yaml"
	FormatCSAF    Format = "csaf"
	FormatKEV     Format = "kev"
	// FormatUnknown is a document none of the parsers reads.
	FormatUnknown Format = "unknown"
)

// MaxFileSize bounds one file or archive member (bytes).
const MaxFileSize = 256 << 20

// sniff holds the top-level members that tell the JSON formats apart.
type sniff struct {
	DataType       string          `json:"dataType"`
	CVEMetadata    json.RawMessage `json:"cveMetadata"`
	Format         string          `json:"format"`
	ResultsPerPage *int            `json:"resultsPerPage"`
	CatalogVersion string          `json:"catalogVersion"`
	Document       *struct {
		CSAFVersion string `json:"csaf_version"`
	} `json:"document"`
	ID       string          `json:"id"`
	Affected json.RawMessage `json:"affected"`
	Modified string          `json:"modified"`
}

// Detect returns the format of a document: by extension for YAML (OSV),
// otherwise from the JSON top-level members.
func Detect(name string, data []byte) Format {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".yaml" || ext == ".yml" {
		return FormatOSVYAML
	}
	t := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if len(t) == 0 || t[0] != '{' {
		return FormatUnknown
	}
	// Cheap checks on the head first: CVE 5 records (the bulk of an
	// import) say so in their first members.
	head := t[:min(len(t), 512)]
	if bytes.Contains(head, []byte(`"dataType": "CVE_RECORD"`)) || bytes.Contains(head, []byte(`"dataType":"CVE_RECORD"`)) {
		return FormatCVE5
	}
	var s sniff
	if err := json.Unmarshal(t, &s); err != nil {
		return FormatUnknown
	}
	switch {
	case s.DataType == "CVE_RECORD" || len(s.CVEMetadata) > 0:
		return FormatCVE5
	case s.Format == "NVD_CVE" || s.ResultsPerPage != nil:
		return FormatNVD
	case s.CatalogVersion != "":
		return FormatKEV
	case s.Document != nil && s.Document.CSAFVersion != "":
		return FormatCSAF
	case s.ID != "" && (len(s.Affected) > 0 || s.Modified != ""):
		return FormatOSV
	}
	return FormatUnknown
}

// Parsed is what one document holds.
type Parsed struct {
	Format Format
	Vulns  []*vuln.Vulnerability
	// KEV is set for a KEV catalogue.
	KEV vuln.KEVCatalog
}

// Parse detects the format of a document and parses it. An undetected
// format is an errkind.Invalid error naming the file.
func Parse(name string, data []byte) (Parsed, error) {
	f := Detect(name, data)
	p := Parsed{Format: f}
	var err error
	var v *vuln.Vulnerability
	switch f {
	case FormatCVE5:
		v, err = intake.ParseCVE5(name, data)
	case FormatOSV:
		v, err = intake.ParseOSV(name, data)
	case FormatOSVYAML:
		v, err = intake.ParseOSVYAML(name, data)
	case FormatNVD:
		p.Vulns, err = intake.ParseNVDPage(name, data)
	case FormatCSAF:
		p.Vulns, err = intake.ParseCSAF(name, data)
	case FormatKEV:
		p.KEV, err = intake.ParseKEV(name, data)
	default:
		return p, fmt.Errorf("%s: not a CVE 5 record, NVD 2.0 page, OSV record, CSAF 2.0 document or KEV catalogue: %w", name, errkind.Invalid)
	}
	if v != nil {
		p.Vulns = []*vuln.Vulnerability{v}
	}
	return p, err
}

// Doc is one document read from the command line: a file, or a member of
// a directory tree or an archive.
type Doc struct {
	// Name is the path, with "archive!member" for archive members.
	Name string
	Data []byte
	// Err is set when the document could not be read.
	Err error
	// Explicit is set for a file named on the command line (not found
	// in a directory or an archive); only such a file is an error when
	// its format is unknown.
	Explicit bool
}

// candidate reports whether a file found in a directory or an archive
// may hold vulnerability data (by extension).
func candidate(name string) bool {
	n := strings.ToLower(name)
	for _, ext := range []string{".json", ".yaml", ".yml", ".zip", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(n, ext) {
			return !strings.HasSuffix(n, "schema.json")
		}
	}
	return false
}

// Walk reads every path in order: a directory recursively (files named
// *.json, *.yaml, *.yml, *.zip, *.tar.gz, *.tgz), a zip or gzip'd tar
// archive member by member, any other file as one document; fn gets each
// document. Walk stops at fn's first error or when ctx is cancelled.
func Walk(ctx context.Context, paths []string, fn func(Doc) error) error {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			if err := fn(Doc{Name: p, Err: fmt.Errorf("%s: %w", p, err), Explicit: true}); err != nil {
				return err
			}
			continue
		}
		if !st.IsDir() {
			if err := walkFile(ctx, p, true, fn); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				return fn(Doc{Name: path, Err: fmt.Errorf("%s: %w", path, err)})
			}
			if de.IsDir() || !candidate(de.Name()) {
				return nil
			}
			return walkFile(ctx, path, false, fn)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func walkFile(ctx context.Context, path string, explicit bool, fn func(Doc) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := strings.ToLower(path)
	switch {
	case strings.HasSuffix(n, ".zip"):
		return walkZip(ctx, path, fn)
	case strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".tgz"):
		return walkTar(ctx, path, fn)
	}
	data, err := readLimited(path)
	return fn(Doc{Name: path, Data: data, Err: err, Explicit: explicit})
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil && st.Size() < MaxFileSize {
		size = st.Size()
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+512))
	_, err = buf.ReadFrom(io.LimitReader(f, MaxFileSize+1))
	data := buf.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, MaxFileSize, errkind.TooLarge)
	}
	return data, nil
}

func walkZip(ctx context.Context, path string, fn func(Doc) error) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fn(Doc{Name: path, Err: fmt.Errorf("%s: zip: %w", path, err), Explicit: true})
	}
	defer zr.Close()
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.FileInfo().IsDir() || !candidate(f.Name) || strings.HasSuffix(strings.ToLower(f.Name), ".zip") {
			continue
		}
		name := path + "!" + f.Name
		d := Doc{Name: name}
		if f.UncompressedSize64 > MaxFileSize {
			d.Err = fmt.Errorf("%s: larger than %d bytes: %w", name, MaxFileSize, errkind.TooLarge)
		} else if rc, err := f.Open(); err != nil {
			d.Err = fmt.Errorf("%s: %w", name, err)
		} else {
			d.Data = make([]byte, f.UncompressedSize64)
			_, err = io.ReadFull(rc, d.Data)
			rc.Close()
			if err != nil {
				d.Data, d.Err = nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

func walkTar(ctx context.Context, path string, fn func(Doc) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fn(Doc{Name: path, Err: fmt.Errorf("%s: %w", path, err), Explicit: true})
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fn(Doc{Name: path, Err: fmt.Errorf("%s: gzip: %w", path, err), Explicit: true})
	}
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fn(Doc{Name: path, Err: fmt.Errorf("%s: tar: %w", path, err), Explicit: true})
		}
		if h.Typeflag != tar.TypeReg || !candidate(h.Name) {
			continue
		}
		low := strings.ToLower(h.Name)
		if strings.HasSuffix(low, ".zip") || strings.HasSuffix(low, ".tar.gz") || strings.HasSuffix(low, ".tgz") {
			continue
		}
		name := path + "!" + h.Name
		d := Doc{Name: name}
		if h.Size > MaxFileSize {
			d.Err = fmt.Errorf("%s: larger than %d bytes: %w", name, MaxFileSize, errkind.TooLarge)
		} else {
			d.Data = make([]byte, h.Size)
			if _, err := io.ReadFull(tr, d.Data); err != nil {
				d.Data, d.Err = nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		if err := fn(d); err != nil {
			return err
		}
	}
}
