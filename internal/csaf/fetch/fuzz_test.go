package fetch_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch"
)

func FuzzParseProviderMetadata(f *testing.F) {
	f.Add([]byte(`{"canonical_url":"https://a.example/.well-known/csaf/provider-metadata.json","distributions":[{"directory_url":"https://a.example/.well-known/csaf/white/"}],"last_updated":"2024-01-01T00:00:00Z","list_on_CSAF_aggregators":true,"metadata_version":"2.0","mirror_on_CSAF_aggregators":true,"public_openpgp_keys":[{"fingerprint":"A8914CA2F11139C6A69A0018FB3CD9B15DE61596","url":"https://a.example/k.asc"}],"publisher":{"category":"vendor","name":"A","namespace":"https://a.example"},"role":"csaf_trusted_provider"}`))
	f.Add([]byte(`{"distributions":[{"rolie":{"feeds":[{"tlp_label":"WHITE","url":"https://a.example/f.json"}]}}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := fetch.ParseProviderMetadata("fuzz", data)
		if err == nil && m == nil {
			t.Fatal("nil metadata without error")
		}
	})
}

func FuzzParseFeed(f *testing.F) {
	f.Add([]byte(`{"feed":{"id":"x","title":"t","link":[{"rel":"self","href":"https://a.example/f.json"}],"category":[{"scheme":"urn:ietf:params:rolie:category:information-type","term":"csaf"}],"updated":"2024-01-01T00:00:00Z","entry":[{"id":"A-1","title":"t","link":[{"rel":"self","href":"https://a.example/white/2024/a-1.json"},{"rel":"hash","href":"https://a.example/white/2024/a-1.json.sha256"},{"rel":"signature","href":"https://a.example/white/2024/a-1.json.asc"}],"published":"2024-01-01T00:00:00Z","updated":"2024-01-02T00:00:00Z","content":{"type":"application/json","src":"https://a.example/white/2024/a-1.json"},"format":{"schema":"https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json","version":"2.0"}}]}}`))
	f.Add([]byte(`{"feed":{"entry":[{"link":[]}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ls, err := fetch.ParseFeed("fuzz", data)
		if err != nil {
			return
		}
		for _, l := range ls {
			if l.URL == "" || l.Updated == "" {
				t.Fatalf("entry without URL or updated: %+v", l)
			}
		}
	})
}

func FuzzParseChangesCSV(f *testing.F) {
	f.Add([]byte("\"2024/a-1.json\",\"2024-01-02T00:00:00+00:00\"\n\"2023/b.json\",\"2023-05-01T10:00:00Z\"\n"))
	f.Add([]byte("a.json,2020-01-01T00:00:00Z\n"))
	f.Add([]byte("\"../x.json\",\"2020-01-01T00:00:00Z\"\n"))
	f.Add([]byte("\"a.json\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ls, err := fetch.ParseChangesCSV("fuzz", data)
		if err != nil {
			return
		}
		for _, l := range ls {
			if l.URL == "" || l.URL[0] == '/' || l.Updated == "" {
				t.Fatalf("bad entry accepted: %+v", l)
			}
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte("2024/a-1.json\n2023/b.json\n\n"))
	f.Add([]byte("/etc/passwd.json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ls, err := fetch.ParseIndex("fuzz", data)
		if err != nil {
			return
		}
		for _, l := range ls {
			if l.URL == "" || l.URL[0] == '/' || slices.Contains(strings.Split(l.URL, "/"), "..") {
				t.Fatalf("bad path accepted: %+v", l)
			}
		}
	})
}
