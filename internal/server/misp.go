package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/misp"
	"github.com/kizuna-cti/kizuna/internal/misp/hub"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// mispRoutes registers the MISP feed, authenticated (a MISP instance
// subscribes with the token in its Authorization header). Each subscriber
// sees only what it may read of the hub's default collection (or
// ?collection=ID):
//
//	GET /misp/feed/manifest.json  event uuid -> summary
//	GET /misp/feed/hashes.csv     md5 of every visible value, event uuid
//	GET /misp/feed/{uuid}.json    one event, without the attributes the subscriber may not see
func (s *Server) mispRoutes(mux *http.ServeMux) {
	mux.Handle("GET /misp/feed/{file}", s.authed(s.mispFeed))
}

// mispFeed serves one file of the MISP feed.
func (s *Server) mispFeed(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	file := r.PathValue("file")
	var event string
	switch {
	case file == "manifest.json" || file == "hashes.csv":
	case strings.HasSuffix(file, ".json") && len(file) == 41:
		event = strings.ToLower(strings.TrimSuffix(file, ".json"))
	default:
		return fmt.Errorf("%w: no MISP feed file %q (manifest.json, hashes.csv or UUID.json)", errkind.NotFound, truncate(file, 64))
	}
	collID := store.DefaultCollectionID
	if v := r.URL.Query()["collection"]; len(v) > 0 {
		if len(v) > 1 || len(v[0]) > 128 || v[0] == "" {
			return fmt.Errorf("%w: parameter collection: give one collection id", errkind.Invalid)
		}
		collID = v[0]
	}
	c, err := s.cfg.Store.Collection(r.Context(), store.DefaultAPIRoot, collID)
	if errors.Is(err, errkind.NotFound) || err == nil && !s.cfg.Policy.CanRead(p, c.ReadOrgs) {
		return fmt.Errorf("%w: no collection %q", errkind.NotFound, truncate(collID, 128))
	}
	if err != nil {
		return fmt.Errorf("reading collection %s: %w", collID, err)
	}
	events, err := hub.Events(r.Context(), s.cfg.Store, store.Filter{Collection: c.ID, Access: s.cfg.Policy.Access(p)}, false, nil)
	if err != nil {
		return fmt.Errorf("MISP feed: %w", err)
	}
	var body []byte
	ctype := "application/json"
	switch {
	case file == "manifest.json":
		body, err = json.Marshal(misp.Manifest(events))
	case file == "hashes.csv":
		var b bytes.Buffer
		err = misp.WriteHashes(&b, events)
		body, ctype = b.Bytes(), "text/csv; charset=utf-8"
	default:
		for _, ev := range events {
			if strings.EqualFold(ev.UUID, event) {
				body, err = misp.EventFile(ev)
				break
			}
		}
		if body == nil && err == nil {
			return fmt.Errorf("%w: no MISP event %s in this feed", errkind.NotFound, event)
		}
	}
	if err != nil {
		return fmt.Errorf("MISP feed %s: %w", file, err)
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}
