package taxii

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// FuzzNegotiate checks that Accept parsing never panics and only ever
// answers one of the offers or errkind.Unacceptable.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", MediaTAXII, MediaSTIX, "*/*", "application/*;q=0.5, text/html",
		`application/taxii+json;version="2.1"`, "application/taxii+json; version=2.1; charset=utf-8", ",,;;", "a/b;q=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got, err := negotiate(accept, MediaTAXII, MediaSTIX)
		if err != nil {
			if !errors.Is(err, errkind.Unacceptable) {
				t.Fatalf("error %v is not errkind.Unacceptable", err)
			}
			return
		}
		if got != MediaTAXII && got != MediaSTIX {
			t.Fatalf("negotiated %q", got)
		}
		_ = checkContentType(accept)
	})
}

// FuzzReadEnvelope checks that POST body parsing never panics, classifies
// every failure as a client error, and returns only well-formed JSON values.
func FuzzReadEnvelope(f *testing.F) {
	for _, s := range []string{`{"objects":[]}`, `{"objects":[{"type":"x","id":"x--1"}],"more":false}`,
		`{"objects":{}}`, `{}`, `[1]`, `{"objects":[1,"a",null]}`, `{"objects":[`, `{"objects":[]} x`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, err := readEnvelope(bytes.NewReader(body), 1<<20)
		if err != nil {
			if !errors.Is(err, errkind.Invalid) && !errors.Is(err, errkind.Unprocessable) && !errors.Is(err, errkind.TooLarge) {
				t.Fatalf("error %v is not a client error kind", err)
			}
			return
		}
		for _, r := range raws {
			if len(r) == 0 {
				t.Fatal("empty raw object")
			}
		}
	})
}
