// Package webhook signs notification deliveries so that receivers can
// check they come from the hub and are fresh, in the style of Stripe's
// webhook signatures: a header
//
//	Kizuna-Webhook-Signature: t=1700000000,v1=<hex HMAC-SHA256>
//
// where the HMAC is keyed with the subscription's secret and taken over
// the decimal timestamp, a full stop and the raw request body. A receiver
// recomputes it, compares in constant time and rejects timestamps outside
// a tolerance window, which bounds replays. Several v1 entries may appear
// while a secret is being rotated.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Header is the HTTP header carrying the signature (distinct from the
// Kizuna-Signature header of signed TAXII POSTs in package provenance).
const Header = "Kizuna-Webhook-Signature"

// IdempotencyHeader is the HTTP header carrying the idempotency key.
const IdempotencyHeader = "Idempotency-Key"

// DefaultTolerance is the replay window receivers should allow.
const DefaultTolerance = 5 * time.Minute

// Verification errors. Each wraps errkind.Unauthorized.
var (
	// ErrMalformed is a header that is not "t=...,v1=...".
	ErrMalformed = fmt.Errorf("webhook signature header malformed: %w", errkind.Unauthorized)
	// ErrMismatch is a header none of whose signatures matches any secret.
	ErrMismatch = fmt.Errorf("webhook signature does not match: %w", errkind.Unauthorized)
	// ErrExpired is a timestamp outside the tolerance window.
	ErrExpired = fmt.Errorf("webhook timestamp outside the tolerance window: %w", errkind.Unauthorized)
)

// mac returns the v1 signature of body at Unix time ts.
func mac(secret []byte, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(strconv.AppendInt(nil, ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the header value "t=<unix seconds>,v1=<hex HMAC-SHA256>"
// for body sent at ts (whole seconds; the fraction is dropped).
func Sign(secret []byte, ts time.Time, body []byte) string {
	return SignAll(ts, body, secret)
}

// SignAll is Sign with one v1 entry per secret, for rotation: sign with
// the new and the old secret until every receiver has the new one.
func SignAll(ts time.Time, body []byte, secrets ...[]byte) string {
	t := ts.Unix()
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(t, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, t, body)))
	}
	return b.String()
}

// Verify checks header against body: one of its v1 signatures must match
// one of secrets, and its timestamp must be within tolerance of now (in
// either direction; a tolerance of 0 means DefaultTolerance). Unknown
// entries (other schemes) are ignored. It returns the signed time.
func Verify(header string, body []byte, now time.Time, tolerance time.Duration, secrets ...[]byte) (time.Time, error) {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts int64
	haveTS := false
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return time.Time{}, fmt.Errorf("%w: entry %q has no '='", ErrMalformed, part)
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return time.Time{}, fmt.Errorf("%w: bad or repeated timestamp %q", ErrMalformed, v)
			}
			ts, haveTS = n, true
		case "v1":
			s, err := hex.DecodeString(v)
			if err != nil || len(s) != sha256.Size {
				return time.Time{}, fmt.Errorf("%w: v1 is not %d hex bytes", ErrMalformed, sha256.Size)
			}
			sigs = append(sigs, s)
		}
	}
	if !haveTS || len(sigs) == 0 {
		return time.Time{}, fmt.Errorf("%w: want t= and at least one v1=", ErrMalformed)
	}
	matched := false
	for _, secret := range secrets {
		want := mac(secret, ts, body)
		for _, s := range sigs {
			// Compare against all, without an early exit.
			if hmac.Equal(want, s) {
				matched = true
			}
		}
	}
	if !matched {
		return time.Time{}, ErrMismatch
	}
	signed := time.Unix(ts, 0)
	if d := now.Sub(signed); d > tolerance || d < -tolerance {
		return signed, fmt.Errorf("%w: signed at %s, now %s", ErrExpired, signed.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return signed, nil
}

// IdempotencyKey derives the key a delivery carries so that a receiver can
// drop retries of what it already processed: the same subscription and
// event always give the same key, retries included, and different ones
// give different keys. It is "kz1_" and 32 hex digits of SHA-256 over the
// length-prefixed parts, so that ("ab","c") and ("a","bc") differ.
func IdempotencyKey(subscription, event string) string {
	h := sha256.New()
	h.Write([]byte("kizuna webhook idempotency v1\x00"))
	for _, p := range []string{subscription, event} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return "kz1_" + hex.EncodeToString(h.Sum(nil)[:16])
}
