package server

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// logRoutes registers the transparency log endpoints (when the server has
// a ledger), all authenticated:
//
//	GET /api/v1/log/checkpoint                 the signed tree head (text/plain)
//	GET /api/v1/log/key                        the note verifier key (text/plain)
//	GET /api/v1/log/inclusion?hash=HEX|index=N a receipt for an object version
//	GET /api/v1/log/consistency?old=N[&new=M]  a consistency proof
func (s *Server) logRoutes(mux *http.ServeMux) {
	if s.cfg.Ledger == nil {
		return
	}
	mux.Handle("GET /api/v1/log/checkpoint", s.authed(s.logCheckpoint))
	mux.Handle("GET /api/v1/log/key", s.authed(s.logKey))
	mux.Handle("GET /api/v1/log/inclusion", s.authed(s.logInclusion))
	mux.Handle("GET /api/v1/log/consistency", s.authed(s.logConsistency))
}

// writeText writes a text/plain body.
func writeText(w http.ResponseWriter, body []byte) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// logCheckpoint serves the current signed tree head.
func (s *Server) logCheckpoint(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	b, err := s.cfg.Ledger.Checkpoint(r.Context())
	if err != nil {
		return fmt.Errorf("signing tree head: %w", err)
	}
	return writeText(w, b)
}

// logKey serves the verifier key of the hub's tree heads.
func (s *Server) logKey(w http.ResponseWriter, _ *http.Request, _ sharing.Principal) error {
	return writeText(w, []byte(s.cfg.Ledger.VerifierKey()+"\n"))
}

// logInclusion serves the receipt of an object version the caller may see,
// found by the hex SHA-256 of its canonical JSON (the latest record of it)
// or by record index. Versions the caller may not see, and deleted ones,
// answer 404 exactly like unknown ones.
func (s *Server) logInclusion(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	tl := s.cfg.Ledger.Log()
	var candidates []int64
	switch hs, is := q.Get("hash"), q.Get("index"); {
	case hs != "" && is != "":
		return fmt.Errorf("%w: give either hash or index, not both", errkind.Invalid)
	case hs != "":
		b, err := hex.DecodeString(hs)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("%w: hash: want 64 hex digits (SHA-256 of the object's canonical JSON)", errkind.Invalid)
		}
		idx, err := tl.Store().Find(ctx, [32]byte(b))
		if err != nil {
			return fmt.Errorf("finding hash in the log: %w", err)
		}
		for i := len(idx) - 1; i >= 0; i-- {
			candidates = append(candidates, idx[i])
		}
	case is != "":
		n, err := strconv.ParseInt(is, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: index: want a non-negative integer", errkind.Invalid)
		}
		candidates = []int64{n}
	default:
		return fmt.Errorf("%w: give hash=HEX or index=N", errkind.Invalid)
	}
	head, err := tl.Head(ctx)
	if err != nil {
		return fmt.Errorf("reading log head: %w", err)
	}
	for _, idx := range candidates {
		if idx >= head.N {
			continue
		}
		e, err := tl.Entry(ctx, idx)
		if err != nil {
			return fmt.Errorf("reading log record %d: %w", idx, err)
		}
		ok, err := s.visibleEntry(r, p, e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		rc, err := s.cfg.Ledger.Receipt(ctx, idx)
		if err != nil {
			return fmt.Errorf("making receipt for record %d: %w", idx, err)
		}
		return writeAPIJSON(w, http.StatusOK, rc)
	}
	return fmt.Errorf("%w: no logged object version you may see matches", errkind.NotFound)
}

// visibleEntry reports whether the entry is an added version the caller
// may read now: its collection is readable and the sharing policy lets the
// caller see a stored version with the logged hash.
func (s *Server) visibleEntry(r *http.Request, p sharing.Principal, e *translog.Entry) (bool, error) {
	if e.Op != translog.Add {
		return false, nil
	}
	ctx := r.Context()
	roots, err := s.cfg.Store.APIRoots(ctx)
	if err != nil {
		return false, fmt.Errorf("listing API roots: %w", err)
	}
	found := false
	for _, root := range roots {
		c, err := s.cfg.Store.Collection(ctx, root.Name, e.Collection)
		if err != nil {
			continue
		}
		if !s.cfg.Policy.CanRead(p, c.ReadOrgs) {
			return false, nil
		}
		found = true
		break
	}
	if !found {
		return false, nil
	}
	pg, err := s.cfg.Store.Query(ctx, store.Filter{
		Collection: e.Collection, IDs: []string{e.ObjectID}, Access: s.cfg.Policy.Access(p),
		Versions: []string{"all"}, SpecVersions: []string{"", "2.0", "2.1"},
	})
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", e.ObjectID, err)
	}
	for _, v := range pg.Entries {
		if h, err := sign.Digest(v.Raw); err == nil && h == e.ObjectHash {
			return true, nil
		}
	}
	return false, nil
}

// logConsistency serves the proof that the tree of old records is a prefix
// of the tree of new records (default: the current tree).
func (s *Server) logConsistency(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	ctx := r.Context()
	tl := s.cfg.Ledger.Log()
	head, err := tl.Head(ctx)
	if err != nil {
		return fmt.Errorf("reading log head: %w", err)
	}
	q := r.URL.Query()
	oldN, err := strconv.ParseInt(q.Get("old"), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: old: want a positive integer", errkind.Invalid)
	}
	newN := head.N
	if v := q.Get("new"); v != "" {
		if newN, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%w: new: want a positive integer", errkind.Invalid)
		}
	}
	if oldN <= 0 || oldN > newN || newN > head.N {
		return fmt.Errorf("%w: want 0 < old <= new <= %d (the log's size)", errkind.Invalid, head.N)
	}
	pr, err := tl.ConsistencyProof(ctx, oldN, newN)
	if err != nil {
		return fmt.Errorf("consistency proof %d..%d: %w", oldN, newN, err)
	}
	return writeAPIJSON(w, http.StatusOK, pr)
}
