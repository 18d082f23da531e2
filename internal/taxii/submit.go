package taxii

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// addObjects serves POST .../objects/ (section 5.4 of the objects
// endpoint): the envelope's objects are recorded as pending in a new status,
// handed to the ingestion workers, and the status is returned (202) as soon
// as ingestion finishes or the wait budget runs out.
func (h *Handler) addObjects(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	root, c, err := h.findCollection(r, p, needWrite)
	if err != nil {
		return err
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	max := h.maxContent(root)
	if r.ContentLength > max {
		return fmt.Errorf("%w: request body of %d bytes exceeds max_content_length %d", errkind.TooLarge, r.ContentLength, max)
	}
	var signer, keyID string
	var raws []json.RawMessage
	if hdr := r.Header.Get(sign.HeaderName); hdr != "" {
		// Signed: the signature covers the whole body, so read it first.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				return fmt.Errorf("%w: request body exceeds max_content_length %d", errkind.TooLarge, max)
			}
			return fmt.Errorf("reading request body: %w", err)
		}
		if h.cfg.Signatures == nil {
			return fmt.Errorf("%w: %s header: this hub does not verify signatures", errkind.Unprocessable, sign.HeaderName)
		}
		signer, keyID, err = h.cfg.Signatures.VerifySubmission(r.Context(), p.OrgID, hdr, body)
		if err != nil {
			return fmt.Errorf("submission refused: %w", err)
		}
		if raws, err = readEnvelope(bytes.NewReader(body), max); err != nil {
			return err
		}
	} else if raws, err = readEnvelope(http.MaxBytesReader(w, r.Body, max), max); err != nil {
		return err
	}

	ctx := r.Context()
	st := store.Status{
		ID: newID(), Collection: c.ID, OwnerOrg: p.OrgID, OwnerUser: p.UserID,
		Requested: h.cfg.Now().UTC(),
	}
	var good [][]byte
	var bad []store.StatusDetail
	for i, raw := range raws {
		var head struct {
			ID       any `json:"id"`
			Created  any `json:"created"`
			Modified any `json:"modified"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			bad = append(bad, store.StatusDetail{Message: fmt.Sprintf("object %d: not a JSON object", i)})
			continue
		}
		id, _ := head.ID.(string)
		if id == "" {
			bad = append(bad, store.StatusDetail{Message: fmt.Sprintf("object %d: id: required property missing or not a string", i)})
			continue
		}
		version, _ := head.Modified.(string)
		if version == "" {
			version, _ = head.Created.(string)
		}
		st.Pendings = append(st.Pendings, store.StatusDetail{ID: id, Version: version})
		good = append(good, raw)
	}
	if err := h.cfg.Store.CreateStatus(ctx, st); err != nil {
		return fmt.Errorf("creating status: %w", err)
	}
	if len(bad) > 0 {
		if err := h.cfg.Store.FailStatus(ctx, st.ID, bad); err != nil {
			return fmt.Errorf("recording failures in status %s: %w", st.ID, err)
		}
	}
	anonymous := false
	if org, err := h.cfg.Store.Org(ctx, p.OrgID); err == nil {
		anonymous = org.Anonymous
	}
	if len(good) > 0 {
		j := job{
			sub: ingest.Submission{Collection: c.ID, Principal: p, Anonymous: anonymous, StatusID: st.ID,
				Signer: signer, KeyID: keyID},
			raws: good,
			done: make(chan struct{}),
		}
		timer := time.NewTimer(h.cfg.SubmitWait)
		defer timer.Stop()
		select {
		case <-h.quit:
			h.abandon(st.ID, "not processed: the server is shutting down")
			return fmt.Errorf("%w (status %s)", ErrBusy, st.ID)
		default:
		}
		select {
		case h.jobs <- j:
		case <-timer.C:
			h.abandon(st.ID, "not processed: the server was busy")
			return fmt.Errorf("%w (status %s)", ErrBusy, st.ID)
		case <-ctx.Done():
			h.abandon(st.ID, "not processed: the request was cancelled")
			return fmt.Errorf("queueing submission: %w", ctx.Err())
		}
		select {
		case <-j.done:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	final, err := h.cfg.Store.Status(ctx, st.ID)
	if err != nil {
		return fmt.Errorf("reading status %s: %w", st.ID, err)
	}
	ids := make([]string, 0, min(len(final.Successes), audit.MaxObjectIDs))
	for _, d := range final.Successes[:cap(ids)] {
		ids = append(ids, d.ID)
	}
	audit.Annotate(ctx, c.ID, ids...)
	audit.AnnotateMore(ctx, len(final.Successes)-len(ids))
	h.log.InfoContext(ctx, "objects submitted", "collection", c.ID, "status", st.ID,
		"objects", len(raws), "org", p.OrgID, "user", p.UserID, "signer_key", keyID)
	return writeJSON(w, http.StatusAccepted, mt, toStatusResource(final))
}

// readEnvelope reads {"objects": [...]} and returns the raw objects. Other
// properties (more, next) are ignored.
func readEnvelope(body io.Reader, max int64) ([]json.RawMessage, error) {
	dec := json.NewDecoder(body)
	var env struct {
		Objects *[]json.RawMessage `json:"objects"`
	}
	if err := dec.Decode(&env); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: request body exceeds max_content_length %d", errkind.TooLarge, max)
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, fmt.Errorf("%w: request body: %q must be an array of objects in a JSON object (a TAXII envelope)", errkind.Unprocessable, ute.Field)
		}
		return nil, fmt.Errorf("%w: request body is not valid JSON", errkind.Invalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: request body exceeds max_content_length %d", errkind.TooLarge, max)
		}
		return nil, fmt.Errorf("%w: request body has data after the envelope", errkind.Invalid)
	}
	if env.Objects == nil {
		return nil, fmt.Errorf("%w: request body: a TAXII envelope needs an \"objects\" array", errkind.Unprocessable)
	}
	return *env.Objects, nil
}

// worker runs queued submissions until Close, then drains the queue.
func (h *Handler) worker() {
	defer h.wg.Done()
	for {
		select {
		case j := <-h.jobs:
			h.run(j)
		case <-h.quit:
			for {
				select {
				case j := <-h.jobs:
					h.run(j)
				default:
					return
				}
			}
		}
	}
}

// run ingests one submission. If the store fails, the objects still pending
// are marked failed so the status completes.
func (h *Handler) run(j job) {
	defer close(j.done)
	raws := make([]json.RawMessage, len(j.raws))
	for i, r := range j.raws {
		raws[i] = r
	}
	start := time.Now()
	res, err := h.cfg.Pipeline.Submit(h.ctx, j.sub, raws)
	if err != nil {
		h.log.Error("ingesting submission", "status", j.sub.StatusID, "collection", j.sub.Collection, "err", err)
		h.abandon(j.sub.StatusID, "not stored: internal error")
		return
	}
	h.log.Info("submission ingested", "status", j.sub.StatusID, "collection", j.sub.Collection,
		"successes", len(res.Successes), "failures", len(res.Failures), "ms", time.Since(start).Milliseconds())
}

// abandon marks the still-pending objects of a status as failed.
func (h *Handler) abandon(statusID, msg string) {
	ctx := h.ctx
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	s, err := h.cfg.Store.Status(ctx, statusID)
	if err != nil {
		h.log.Error("reading status to fail it", "status", statusID, "err", err)
		return
	}
	if len(s.Pendings) == 0 {
		return
	}
	fails := make([]store.StatusDetail, len(s.Pendings))
	for i, d := range s.Pendings {
		fails[i] = store.StatusDetail{ID: d.ID, Version: d.Version, Message: msg}
	}
	if err := h.cfg.Store.FailStatus(ctx, statusID, fails); err != nil {
		h.log.Error("failing pending objects", "status", statusID, "err", err)
	}
}
