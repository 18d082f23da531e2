// Command benchgen supports scripts/bench-e2e.sh: it generates large STIX
// bundles shaped like real intelligence, and drives a running hub over
// TAXII to measure paging throughput and filtered-query latency.
//
//	benchgen gen -n 1000000 -o objects.json      # ATT&CK Enterprise objects with new ids, 10 % indicators
//	benchgen page -url URL -token T               # page the default collection, print objects/s
//	benchgen latency -url URL -token T -n 500     # filtered GETs, print p50/p99
package main

import (
	"bufio"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

const collection = "8e8c3e7c-0f3f-4b5e-9a43-2f6c1a7b9d01"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchgen gen|page|latency [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "page":
		err = page(os.Args[2:])
	case "latency":
		err = latency(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

// gen writes n objects: real ATT&CK Enterprise objects (from -src, the
// shared data set) with fresh ids, one in ten replaced by an indicator.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	n := fs.Int("n", 1000000, "objects")
	out := fs.String("o", "objects.json", "output file")
	src := fs.String("src", "../shared/data/stix/enterprise-attack-18.1-derived-stix21.json.gz", "ATT&CK bundle (gzip)")
	fs.Parse(args)
	templates, err := loadTemplates(*src)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[`)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < *n; i++ {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
		if i%10 == 0 {
			fmt.Fprintf(w, `{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`,
				uuid(r), r.IntN(256), r.IntN(256), r.IntN(256))
			continue
		}
		t := templates[r.IntN(len(templates))]
		typ := t["type"].(string)
		t["id"] = typ + "--" + uuid(r)
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		w.Write(b)
	}
	w.WriteString("\n]}\n")
	return w.Flush()
}

func loadTemplates(src string) ([]map[string]any, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("templates: %w (the shared ATT&CK data set is needed)", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var b struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.NewDecoder(z).Decode(&b); err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, o := range b.Objects {
		// Keep the objects that are valid STIX 2.1 as they are (skip
		// malware without is_family, relationships and markings that
		// reference ids this generator rewrites).
		switch o["type"] {
		case "attack-pattern", "course-of-action", "intrusion-set", "tool", "campaign", "x-mitre-data-component", "x-mitre-data-source", "x-mitre-tactic":
			delete(o, "created_by_ref")
			delete(o, "object_marking_refs")
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("templates: no usable objects")
	}
	return out, nil
}

func uuid(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

type client struct {
	base, token string
	hc          *http.Client
}

func newClient(fs *flag.FlagSet, args []string) (*client, *flag.FlagSet) {
	u := fs.String("url", "http://127.0.0.1:18443", "hub base URL")
	tok := fs.String("token", "", "bearer token")
	fs.Parse(args)
	return &client{base: strings.TrimSuffix(*u, "/"), token: *tok, hc: &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 4},
	}}, fs
}

type envelope struct {
	More    bool              `json:"more"`
	Next    string            `json:"next"`
	Objects []json.RawMessage `json:"objects"`
}

func (c *client) get(q url.Values) (envelope, http.Header, error) {
	req, _ := http.NewRequest(http.MethodGet, c.base+"/taxii2/hub/collections/"+collection+"/objects/?"+q.Encode(), nil)
	req.Header.Set("Accept", "application/taxii+json;version=2.1")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return envelope{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return envelope{}, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return envelope{}, nil, fmt.Errorf("GET: status %d: %.200s", resp.StatusCode, body)
	}
	var e envelope
	err = json.Unmarshal(body, &e)
	return e, resp.Header, err
}

// page reads the whole default collection with limit=1000.
func page(args []string) error {
	c, _ := newClient(flag.NewFlagSet("page", flag.ExitOnError), args)
	start := time.Now()
	n := 0
	q := url.Values{"limit": {"1000"}}
	for {
		e, _, err := c.get(q)
		if err != nil {
			return err
		}
		n += len(e.Objects)
		if !e.More {
			break
		}
		q.Set("next", e.Next)
	}
	d := time.Since(start)
	fmt.Printf("paged %d objects in %.1f s: %.0f objects/s\n", n, d.Seconds(), float64(n)/d.Seconds())
	return nil
}

// latency measures GET ...?match[type]=indicator&added_after=T&limit=100
// with T spread over the collection's date_added range.
func latency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	count := fs.Int("n", 500, "requests")
	c, _ := newClient(fs, args)
	_, h, err := c.get(url.Values{"limit": {"1"}})
	if err != nil {
		return err
	}
	first, err := time.Parse(time.RFC3339Nano, h.Get("X-TAXII-Date-Added-First"))
	if err != nil {
		return fmt.Errorf("first date_added: %w", err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	span := time.Since(first)
	var ds []time.Duration
	for i := 0; i < *count; i++ {
		t := first.Add(time.Duration(r.Int64N(int64(span))))
		q := url.Values{"match[type]": {"indicator"}, "added_after": {t.UTC().Format("2006-01-02T15:04:05.000000Z")}, "limit": {"100"}}
		s := time.Now()
		if _, _, err := c.get(q); err != nil {
			return err
		}
		ds = append(ds, time.Since(s))
	}
	slices.Sort(ds)
	fmt.Printf("filtered GET x%d: p50 %v, p99 %v, max %v\n", len(ds), ds[len(ds)/2], ds[len(ds)*99/100], ds[len(ds)-1])
	return nil
}
