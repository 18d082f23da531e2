package misp

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// A MISP feed is a directory (or URL prefix) holding manifest.json (event
// uuid → summary), hashes.csv (one "md5 of a value,event uuid" line per
// attribute value, both halves of composite values hashed separately) and
// one UUID.json file per event ({"Event": {...}}). MISP instances subscribe
// to feeds by URL and fetch these three kinds of files.

// FeedFiles lists the event files of the MISP feed in dir, in manifest
// order (sorted by uuid). Every event named in manifest.json must have its
// file; files the manifest does not name are not part of the feed.
func FeedFiles(dir string) ([]string, error) {
	name := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%w: MISP feed %s: %v", errkind.NotFound, dir, err)
	}
	m, err := ParseManifest(name, data)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	files := make([]string, 0, len(ids))
	for _, id := range ids {
		f := filepath.Join(dir, id+".json")
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w: MISP feed %s: event %s is in manifest.json but %v", errkind.NotFound, dir, id, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// IsFeed reports whether dir looks like a MISP feed (has manifest.json).
func IsFeed(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "manifest.json"))
	return err == nil && fi.Mode().IsRegular()
}

// Manifest returns the feed manifest of events.
func Manifest(events []*Event) map[string]ManifestEntry {
	m := make(map[string]ManifestEntry, len(events))
	for _, ev := range events {
		m[ev.UUID] = ManifestEntry{Info: ev.Info, Orgc: ev.Orgc, Analysis: ev.Analysis, Tag: ev.Tag,
			Timestamp: ev.Timestamp, Date: ev.Date, ThreatLevelID: ev.ThreatLevelID}
	}
	return m
}

// WriteHashes writes the feed's hashes.csv for events.
func WriteHashes(w io.Writer, events []*Event) error {
	var b bytes.Buffer
	line := func(v, ev string) {
		sum := md5.Sum([]byte(v))
		b.WriteString(hex.EncodeToString(sum[:]))
		b.WriteByte(',')
		b.WriteString(ev)
		b.WriteByte('\n')
	}
	attr := func(a *Attribute, ev string) {
		if strings.Contains(a.Type, "|") {
			for _, part := range strings.SplitN(a.Value, "|", 2) {
				line(part, ev)
			}
			return
		}
		line(a.Value, ev)
	}
	for _, ev := range events {
		for i := range ev.Attribute {
			attr(&ev.Attribute[i], ev.UUID)
		}
		for i := range ev.Object {
			for j := range ev.Object[i].Attribute {
				attr(&ev.Object[i].Attribute[j], ev.UUID)
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// EventFile encodes one event as a feed event file ({"Event": {...}}).
func EventFile(ev *Event) ([]byte, error) {
	return json.Marshal(struct {
		Event *Event `json:"Event"`
	}{ev})
}

// WriteEvents writes events as a MISP API response ({"response": [{"Event":
// ...}, ...]}), the format MISP's own event export and ParseEvents read.
func WriteEvents(w io.Writer, events []*Event) error {
	if _, err := io.WriteString(w, `{"response":[`); err != nil {
		return err
	}
	for i, ev := range events {
		if i > 0 {
			if _, err := io.WriteString(w, ",\n"); err != nil {
				return err
			}
		}
		b, err := EventFile(ev)
		if err != nil {
			return fmt.Errorf("encoding event %s: %w", ev.UUID, err)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]}\n")
	return err
}
