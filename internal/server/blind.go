package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/kizuna-cti/kizuna/internal/detect"
	"github.com/kizuna-cti/kizuna/internal/detect/blind"
	"github.com/kizuna-cti/kizuna/internal/detect/sighting"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/pattern"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// blindSecretFile is the hub secret blinded indexes are keyed from, in the
// data directory (generated on first use, mode 0600).
const blindSecretFile = "blind-secret"

// BlindedIndexType is the media type of GET /api/v1/blinded-index.
const BlindedIndexType = "application/vnd.kizuna.blinded-index"

// maxBlindedHits bounds the hits of one POST /api/v1/blinded-hits, and
// maxHitCount the count of one hit.
const (
	maxBlindedHits = 100_000
	maxHitCount    = 1_000_000
)

// blindedLevels are the TLP levels blinded indexes carry.
var blindedLevels = []sharing.TLP{sharing.TLPAmberStrict, sharing.TLPRed}

// blindedIndex serves GET /api/v1/blinded-index: the caller's
// organisation's blinded index (package blind) of the atomic indicators it
// may see that are TLP:AMBER+STRICT or TLP:RED. The visibility predicate
// of the caller, narrowed to those levels, goes into the store query.
func (s *Server) blindedIndex(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	if p.Public || p.OrgID == "" {
		return fmt.Errorf("%w: blinded index: only members of an organisation receive one", errkind.Forbidden)
	}
	keys, err := s.blindKeys(p.OrgID)
	if err != nil {
		return err
	}
	inds, err := s.blindableIndicators(ctx, p)
	if err != nil {
		return err
	}
	bi := make([]blind.Indicator, 0, len(inds))
	for _, ind := range inds {
		bi = append(bi, blind.Indicator{ID: ind.id, Pattern: ind.pattern})
	}
	x, n := blind.Build(keys, s.cfg.Now(), bi)
	data, err := x.Marshal()
	if err != nil {
		return fmt.Errorf("blinded index: %w", err)
	}
	w.Header().Set("Content-Type", BlindedIndexType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Kizuna-Indicators", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	s.log.InfoContext(ctx, "blinded index", "org", p.OrgID, "indicators", n, "entries", len(x.Entries), "key_id", x.KeyID)
	_, err = w.Write(data)
	return err
}

// blindedHitsRequest is the body of POST /api/v1/blinded-hits.
type blindedHitsRequest struct {
	// KeyID is the key id of the index the hits were found with.
	KeyID string       `json:"key_id"`
	Hits  []blindedHit `json:"hits"`
}

type blindedHit struct {
	Token string `json:"token"`
	// Count is how many times the token was hit at Time (1 when absent).
	Count int `json:"count"`
	// Time is when (RFC 3339; the hub's clock when absent).
	Time string `json:"time"`
}

// blindedHitsResponse is the answer of POST /api/v1/blinded-hits.
type blindedHitsResponse struct {
	Hits       int              `json:"hits"`
	Resolved   int              `json:"resolved"`
	Unresolved int              `json:"unresolved"`
	Window     string           `json:"window"`
	TLP        string           `json:"tlp"`
	Sightings  []string         `json:"sightings"`
	Failures   []sightingFailed `json:"failures,omitempty"`
}

// blindedHits serves POST /api/v1/blinded-hits: a constituent reports the
// tokens its blinded index matched; each token is resolved against the
// indicators the caller may see now (a token of an indicator it may no
// longer see, or of another organisation's index, resolves to nothing)
// and the hits become sightings per indicator, the caller's organisation
// and window, stored through the ingest pipeline as POST
// /api/v1/telemetry stores them. Parameters: tlp of the sightings
// (TLP:AMBER+STRICT by default: a sighting names the indicator) and window.
func (s *Server) blindedHits(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	if p.Public || p.OrgID == "" {
		return fmt.Errorf("%w: blinded hits: only members of an organisation can report hits", errkind.Forbidden)
	}
	q := r.URL.Query()
	level := sharing.TLPAmberStrict
	if v := q.Get("tlp"); v != "" {
		l, err := sharing.ParseTLP(v)
		if err != nil || sharing.MarkingID(l) == "" {
			return fmt.Errorf("%w: parameter tlp: want clear, green, amber, amber+strict or red", errkind.Invalid)
		}
		level = l
	}
	window := sighting.DefaultWindow
	if v := q.Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			return fmt.Errorf("%w: parameter window: want a duration from 1m to 720h, such as 1h", errkind.Invalid)
		}
		window = d
	}
	var req blindedHitsRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bodyError(err)
	}
	if len(req.Hits) > maxBlindedHits {
		return fmt.Errorf("%w: %d hits in one request, the limit is %d", errkind.TooLarge, len(req.Hits), maxBlindedHits)
	}
	keys, err := s.blindKeys(p.OrgID)
	if err != nil {
		return err
	}
	if req.KeyID != blind.KeyID(keys.Match) {
		return fmt.Errorf("%w: blinded hits: key_id %q is not the current key of the caller's index: fetch a new index", errkind.Conflict, req.KeyID)
	}
	now := s.cfg.Now().UTC()
	type hit struct {
		tok   blind.Token
		count int
		t     time.Time
	}
	hits := make([]hit, 0, len(req.Hits))
	for i, h := range req.Hits {
		tok, err := blind.ParseToken(h.Token)
		if err != nil {
			return fmt.Errorf("hits[%d].token: %w", i, err)
		}
		c := h.Count
		if c == 0 {
			c = 1
		}
		if c < 0 || c > maxHitCount {
			return fmt.Errorf("%w: hits[%d].count: want 1 to %d", errkind.Invalid, i, maxHitCount)
		}
		t := now
		if h.Time != "" {
			t, err = time.Parse(time.RFC3339Nano, h.Time)
			if err != nil {
				return fmt.Errorf("%w: hits[%d].time: %q is not an RFC 3339 time", errkind.Invalid, i, h.Time)
			}
		}
		hits = append(hits, hit{tok, c, t})
	}
	coll, err := s.cfg.Store.Collection(ctx, store.DefaultAPIRoot, store.DefaultCollectionID)
	if err != nil {
		return fmt.Errorf("reading the default collection: %w", err)
	}
	if !s.cfg.Policy.CanWrite(p, coll.WriteOrgs) {
		return fmt.Errorf("%w: blinded hits: sightings go to collection %s, which the caller may not write", errkind.Forbidden, coll.ID)
	}
	// Resolve against what the caller may see now.
	inds, err := s.blindableIndicators(ctx, p)
	if err != nil {
		return err
	}
	byToken := make(map[blind.Token]string, len(inds))
	for _, ind := range inds {
		if _, ok := blind.Values(ind.pattern); ok {
			byToken[blind.TokenOf(keys.Token, ind.id)] = ind.id
		}
	}
	agg := sighting.New(window)
	res := blindedHitsResponse{Window: window.String(), TLP: level.String(), Sightings: []string{}}
	for _, h := range hits {
		res.Hits += h.count
		id, ok := byToken[h.tok]
		if !ok {
			res.Unresolved += h.count
			continue
		}
		res.Resolved += h.count
		for range h.count {
			agg.Add(id, p.OrgID, h.t)
		}
	}
	out, err := s.storeSightings(ctx, p, coll.ID, agg, level, now)
	if err != nil {
		return err
	}
	for _, d := range out.Successes {
		res.Sightings = append(res.Sightings, d.ID)
	}
	for _, d := range out.Failures {
		res.Failures = append(res.Failures, sightingFailed{ID: d.ID, Message: d.Message})
	}
	s.log.InfoContext(ctx, "blinded hits", "org", p.OrgID, "hits", res.Hits, "resolved", res.Resolved,
		"unresolved", res.Unresolved, "sightings", len(res.Sightings))
	return writeAPIJSON(w, http.StatusOK, res)
}

// storeSightings turns aggregated hits into STIX sightings and submits
// them through the telemetry pipeline, as POST /api/v1/telemetry does.
func (s *Server) storeSightings(ctx context.Context, p sharing.Principal, collID string, agg *sighting.Aggregator, level sharing.TLP, now time.Time) (ingest.Result, error) {
	anonymous := false
	if org, err := s.cfg.Store.Org(ctx, p.OrgID); err == nil {
		anonymous = org.Anonymous
	}
	raws := make([]json.RawMessage, 0, agg.Len())
	for _, g := range agg.Aggregates() {
		raw, err := g.Object(sighting.ObjectOptions{Now: now, MarkingRefs: []string{sharing.MarkingID(level)}, HideOrg: anonymous})
		if err != nil {
			return ingest.Result{}, err
		}
		raws = append(raws, raw)
	}
	if len(raws) == 0 {
		return ingest.Result{}, nil
	}
	out, err := s.telemetryPipeline().Submit(ctx, ingest.Submission{Collection: collID, Principal: p, Anonymous: anonymous}, raws)
	if err != nil {
		return ingest.Result{}, fmt.Errorf("storing sightings: %w", err)
	}
	return out, nil
}

// blindKeys derives the keys of a recipient organisation from the hub
// secret.
func (s *Server) blindKeys(orgID string) (blind.Keys, error) {
	secret, err := loadBlindSecret(s.cfg.DataDir)
	if err != nil {
		return blind.Keys{}, err
	}
	return blind.DeriveKeys(secret, orgID)
}

// loadBlindSecret reads the hub secret from dir, generating it (mode 0600,
// written to a temporary file and linked into place, so that concurrent
// first uses agree) when missing. A secret readable by others is refused.
func loadBlindSecret(dir string) ([]byte, error) {
	if dir == "" {
		return nil, errors.New("blinded matching needs a data directory for the hub secret")
	}
	path := filepath.Join(dir, blindSecretFile)
	for range 2 {
		fi, err := os.Stat(path)
		if err == nil {
			if fi.Mode().Perm()&0o077 != 0 {
				return nil, fmt.Errorf("hub secret %s is accessible to others (mode %v): want 0600", path, fi.Mode().Perm())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("reading the hub secret: %w", err)
			}
			if len(b) != blind.SecretSize {
				return nil, fmt.Errorf("hub secret %s: %d bytes, want %d", path, len(b), blind.SecretSize)
			}
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading the hub secret: %w", err)
		}
		if err := createBlindSecret(dir, path); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("hub secret %s: could not be created", path)
}

func createBlindSecret(dir, path string) error {
	secret := make([]byte, blind.SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("generating the hub secret: %w", err)
	}
	f, err := os.CreateTemp(dir, ".blind-secret-*")
	if err != nil {
		return fmt.Errorf("creating the hub secret: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("creating the hub secret: %w", err)
	}
	if _, err := f.Write(secret); err != nil {
		f.Close()
		return fmt.Errorf("writing the hub secret: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing the hub secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the hub secret: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("installing the hub secret: %w", err)
	}
	return nil
}

// blindableIndicator is a current indicator version a blinded index may
// carry.
type blindableIndicator struct {
	id      string
	pattern *pattern.Pattern
}

// blindedAccess narrows a visibility predicate to the levels blinded
// indexes carry (unmarked data counts when the policy's default is one of
// them), so that the store query returns nothing else.
func blindedAccess(pol *sharing.Policy, acc sharing.Access) sharing.Access {
	want := slices.Clone(blindedLevels)
	if slices.Contains(blindedLevels, pol.Effective(sharing.Label{TLP: sharing.TLPNone})) {
		want = append(want, sharing.TLPNone)
	}
	var out sharing.Access
	for _, c := range acc.Clauses {
		var tlps []sharing.TLP
		if len(c.TLPs) == 0 {
			tlps = slices.Clone(want)
		} else {
			for _, t := range c.TLPs {
				if slices.Contains(want, t) {
					tlps = append(tlps, t)
				}
			}
		}
		if len(tlps) == 0 {
			continue // the clause allows none of the levels
		}
		c.TLPs = tlps
		out.Clauses = append(out.Clauses, c)
	}
	return out
}

// blindableIndicators returns the latest versions of the TLP:AMBER+STRICT
// and TLP:RED indicators the principal may see, valid now and not revoked:
// the collections it may read, queried with its Access predicate narrowed
// to those levels.
func (s *Server) blindableIndicators(ctx context.Context, p sharing.Principal) ([]blindableIndicator, error) {
	acc := s.cfg.Policy.Access(p)
	narrowed := blindedAccess(s.cfg.Policy, acc)
	var out []blindableIndicator
	if len(narrowed.Clauses) == 0 {
		return out, nil
	}
	roots, err := s.cfg.Store.APIRoots(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing API roots: %w", err)
	}
	now := s.cfg.Now()
	seen := map[string]bool{}
	for _, root := range roots {
		colls, err := s.cfg.Store.Collections(ctx, root.Name)
		if err != nil {
			return nil, fmt.Errorf("listing collections of %s: %w", root.Name, err)
		}
		for _, c := range colls {
			if !s.cfg.Policy.CanRead(p, c.ReadOrgs) {
				continue
			}
			next := ""
			for {
				page, err := s.cfg.Store.Query(ctx, store.Filter{Collection: c.ID, Access: narrowed, Types: []string{"indicator"}, Next: next})
				if err != nil {
					return nil, fmt.Errorf("querying indicators of collection %s: %w", c.ID, err)
				}
				for _, e := range page.Entries {
					// The store applied the predicate; check again, fail closed.
					if !acc.Allows(e.Label) || !slices.Contains(blindedLevels, s.cfg.Policy.Effective(e.Label)) {
						continue
					}
					o, err := stix.Parse(e.Raw)
					if err != nil {
						continue
					}
					ind, err := detect.IndicatorFromObject(o)
					if err != nil || ind.Revoked || (ind.PatternType != "" && ind.PatternType != "stix") {
						continue
					}
					if !ind.ValidUntil.IsZero() && !now.Before(ind.ValidUntil) {
						continue
					}
					pat, err := pattern.Parse(ind.Pattern)
					if err != nil || seen[ind.ID] {
						continue
					}
					seen[ind.ID] = true
					out = append(out, blindableIndicator{id: ind.ID, pattern: pat})
				}
				if !page.More || page.Next == "" {
					break
				}
				next = page.Next
			}
		}
	}
	return out, nil
}
