package fetch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// ProviderMetadata is what Kizuna reads of provider-metadata.json (CSAF
// 2.0 section 7.2.1).
type ProviderMetadata struct {
	CanonicalURL    string         `json:"canonical_url"`
	MetadataVersion string         `json:"metadata_version"`
	Role            string         `json:"role"`
	LastUpdated     string         `json:"last_updated"`
	Publisher       csaf.Publisher `json:"publisher"`
	Distributions   []struct {
		DirectoryURL string `json:"directory_url"`
		Rolie        *struct {
			Feeds []Feed `json:"feeds"`
		} `json:"rolie"`
	} `json:"distributions"`
	PublicOpenPGPKeys []struct {
		Fingerprint string `json:"fingerprint"`
		URL         string `json:"url"`
	} `json:"public_openpgp_keys"`
}

// Feed is a ROLIE feed named in provider-metadata.json.
type Feed struct {
	Summary  string `json:"summary"`
	TLPLabel string `json:"tlp_label"`
	URL      string `json:"url"`
}

// ParseProviderMetadata validates provider-metadata.json against the CSAF
// 2.0 provider schema and decodes it. name is used in messages. Errors
// wrap errkind.Invalid.
func ParseProviderMetadata(name string, data []byte) (*ProviderMetadata, error) {
	var m ProviderMetadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: provider-metadata.json: %v: %w", name, err, errkind.Invalid)
	}
	if err := csaf.ValidateProviderMetadata(data); err != nil {
		if !errors.Is(err, errkind.Invalid) {
			err = fmt.Errorf("%w: %w", err, errkind.Invalid)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &m, nil
}

// Provider is a provider whose metadata was fetched and validated, with
// its usable public keys.
type Provider struct {
	// MetadataURL is where provider-metadata.json was found.
	MetadataURL *url.URL
	Metadata    *ProviderMetadata
	// Keys are the public keys whose fingerprint matched.
	Keys openpgp.EntityList
	// KeyProblems lists keys that could not be used, with the reason.
	KeyProblems []string
}

// Discover finds and loads a provider. raw is the URL of a
// provider-metadata.json (a path ending in ".json"), or a domain
// ("https://example.com", "example.com"): then the well-known URL
// /.well-known/csaf/provider-metadata.json is tried first, then the CSAF
// fields of /.well-known/security.txt, then https://csaf.data.security.DOMAIN/
// (section 7.3.1). The metadata must pass the provider schema, and at
// least one public key must load with its fingerprint.
func (c *Client) Discover(ctx context.Context, raw string) (*Provider, error) {
	u, err := parseProviderURL(raw)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(u.Path, ".json") {
		return c.loadMetadata(ctx, u)
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	candidates := []*url.URL{base.JoinPath("/.well-known/csaf/provider-metadata.json")}
	var tried []string
	for i := 0; i < len(candidates); i++ {
		p, err := c.loadMetadata(ctx, candidates[i])
		if err == nil {
			return p, nil
		}
		tried = append(tried, err.Error())
		if i > 0 {
			continue
		}
		// The well-known URL failed: then the CSAF fields of
		// security.txt, then the DNS path (not for IP addresses).
		more, err := c.securityTxt(ctx, base)
		if err != nil {
			tried = append(tried, err.Error())
		}
		candidates = append(candidates, more...)
		if h := u.Hostname(); h != "localhost" && net.ParseIP(h) == nil {
			candidates = append(candidates, &url.URL{Scheme: "https", Host: "csaf.data.security." + h, Path: "/"})
		}
	}
	return nil, fmt.Errorf("no usable provider-metadata.json for %s: %s", raw, strings.Join(tried, "; "))
}

// parseProviderURL accepts "https://host[/path]" or a bare "host".
func parseProviderURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: provider URL %q: %v", errkind.Invalid, raw, err)
	}
	if err := checkURL(u); err != nil {
		return nil, err
	}
	u.Fragment, u.RawQuery = "", ""
	return u, nil
}

// securityTxt returns the URLs of the CSAF fields of the host's
// /.well-known/security.txt (RFC 9116), in order.
func (c *Client) securityTxt(ctx context.Context, base *url.URL) ([]*url.URL, error) {
	su := base.JoinPath("/.well-known/security.txt")
	r, err := c.get(ctx, su, MaxMetadataSize, "", nil)
	if err != nil {
		return nil, err
	}
	var out []*url.URL
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(make([]byte, 0, 4096), MaxMetadataSize)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "CSAF") {
			continue
		}
		ref, err := url.Parse(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		out = append(out, su.ResolveReference(ref))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no CSAF field", su.Redacted())
	}
	return out, nil
}

// loadMetadata fetches and validates provider-metadata.json and the keys.
func (c *Client) loadMetadata(ctx context.Context, u *url.URL) (*Provider, error) {
	r, err := c.get(ctx, u, MaxMetadataSize, u.Host, nil)
	if err != nil {
		return nil, err
	}
	m, err := ParseProviderMetadata(u.Redacted(), r.body)
	if err != nil {
		return nil, err
	}
	p := &Provider{MetadataURL: u, Metadata: m}
	for i, k := range m.PublicOpenPGPKeys {
		ents, err := c.loadKey(ctx, u, k.URL, k.Fingerprint)
		if err != nil {
			p.KeyProblems = append(p.KeyProblems, fmt.Sprintf("public_openpgp_keys[%d]: %v", i, err))
			continue
		}
		p.Keys = append(p.Keys, ents...)
	}
	if len(p.Keys) == 0 {
		why := "public_openpgp_keys lists none"
		if len(p.KeyProblems) > 0 {
			why = strings.Join(p.KeyProblems, "; ")
		}
		return nil, fmt.Errorf("%s: no usable OpenPGP key, so no signature can be checked: %s: %w", u.Redacted(), why, errkind.Invalid)
	}
	return p, nil
}

// loadKey fetches an armored public key and checks its fingerprint.
func (c *Client) loadKey(ctx context.Context, base *url.URL, raw, fingerprint string) (openpgp.EntityList, error) {
	ref, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %v: %w", raw, err, errkind.Invalid)
	}
	ku := base.ResolveReference(ref)
	r, err := c.get(ctx, ku, MaxMetadataSize, base.Host, nil)
	if err != nil {
		return nil, err
	}
	ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(r.body))
	if err != nil || len(ents) == 0 {
		return nil, fmt.Errorf("%s: not an armored OpenPGP public key: %v: %w", ku.Redacted(), err, errkind.Invalid)
	}
	want := strings.ToUpper(strings.ReplaceAll(fingerprint, " ", ""))
	if want == "" {
		return ents, nil
	}
	for _, e := range ents {
		if fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) == want {
			return openpgp.EntityList{e}, nil
		}
	}
	return nil, fmt.Errorf("%s: fingerprint %X does not match the listed %s: %w", ku.Redacted(), ents[0].PrimaryKey.Fingerprint, want, errkind.Invalid)
}
