package csaf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// DraftOptions completes an analyst's draft.
type DraftOptions struct {
	// Now is the publication time (UTC is used).
	Now time.Time
	// TLP is the label (WHITE, GREEN, AMBER or RED) set when the draft has
	// none.
	TLP string
	// Engine and EngineVersion name the generator (default "Kizuna").
	Engine, EngineVersion string
}

// Complete turns an analyst's draft (JSON or YAML; name, used for the
// format and in messages, ending in .yaml or .yml selects YAML) into a
// CSAF document ready to validate: it sets csaf_version, the TLP label
// when missing, and the tracking fields the hub owns: current_release_date
// (now), initial_release_date (now unless given), status (final unless
// given), version (the latest revision's number, else "1"), a revision
// history entry for that version when missing, and the generator. The
// result is indented JSON.
func Complete(name string, data []byte, opt DraftOptions) ([]byte, error) {
	var m map[string]any
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".yaml" || ext == ".yml" || (ext != ".json" && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))) {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("%w: %s: YAML: %v", errkind.Invalid, name, err)
		}
		var ok bool
		if m, ok = normalizeYAML(v).(map[string]any); !ok {
			return nil, fmt.Errorf("%w: %s: the draft is not a mapping", errkind.Invalid, name)
		}
	} else {
		var err error
		if m, err = decode(data); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Engine == "" {
		opt.Engine = "Kizuna"
	}
	now := opt.Now.UTC().Format(time.RFC3339)
	document, ok := m["document"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: document: missing or not an object", errkind.Invalid, name)
	}
	if _, ok := document["csaf_version"]; !ok {
		document["csaf_version"] = "2.0"
	}
	dist := obj(document["distribution"])
	if dist == nil {
		dist = map[string]any{}
		document["distribution"] = dist
	}
	tlp := obj(dist["tlp"])
	if tlp == nil && opt.TLP != "" {
		tlp = map[string]any{}
		dist["tlp"] = tlp
	}
	if tlp != nil {
		if _, ok := tlp["label"]; !ok && opt.TLP != "" {
			tlp["label"] = strings.ToUpper(opt.TLP)
		}
		if _, ok := tlp["url"]; !ok {
			tlp["url"] = "https://www.first.org/tlp/"
		}
	}
	if len(dist) == 0 {
		delete(document, "distribution")
	}
	tr := obj(document["tracking"])
	if tr == nil {
		return nil, fmt.Errorf("%w: %s: document.tracking: missing or not an object", errkind.Invalid, name)
	}
	tr["current_release_date"] = now
	if _, ok := tr["initial_release_date"]; !ok {
		tr["initial_release_date"] = now
	}
	if _, ok := tr["status"]; !ok {
		tr["status"] = "final"
	}
	hist := arr(tr["revision_history"])
	ver, ok := tr["version"].(string)
	if !ok {
		ver = "1"
		if len(hist) > 0 {
			ver = str(obj(hist[len(hist)-1])["number"])
		}
		tr["version"] = ver
	}
	found := false
	for _, h := range hist {
		if str(obj(h)["number"]) == ver {
			found = true
		}
	}
	if !found {
		summary := "Initial version."
		if len(hist) > 0 {
			summary = "Update."
		}
		tr["revision_history"] = append(hist, map[string]any{"date": now, "number": ver, "summary": summary})
	}
	engine := map[string]any{"name": opt.Engine}
	if opt.EngineVersion != "" {
		engine["version"] = opt.EngineVersion
	}
	tr["generator"] = map[string]any{"date": now, "engine": engine}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%s: encoding: %w", name, err)
	}
	return append(out, '\n'), nil
}

// normalizeYAML converts decoded YAML into JSON-compatible values:
// timestamps become RFC 3339 strings, and the version strings CSAF
// requires (tracking.version, revision_history[].number) are made strings
// when YAML read them as numbers.
func normalizeYAML(v any) any {
	return normalize(v, "")
}

func normalize(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e, k)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e, key)
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case int:
		if key == "version" || key == "number" {
			return strconv.Itoa(x)
		}
	}
	return v
}
