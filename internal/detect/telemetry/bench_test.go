package telemetry

import (
	"bytes"
	"errors"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchRead reads a file held in memory again and again.
func benchRead(b *testing.B, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		r, err := Open(bytes.NewReader(data), path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkZeekTSVConn reads the Trickbot conn.log (13,010 records).
func BenchmarkZeekTSVConn(b *testing.B) {
	benchRead(b, filepath.Join(realdata.Path(b, ""), "telemetry", "trickbot-zeek", "zeek", "conn.log"))
}

// BenchmarkZeekJSONDNS reads the zed-sample-data dns.json.gz (53,615
// records, gzip).
func BenchmarkZeekJSONDNS(b *testing.B) {
	benchRead(b, filepath.Join(realdata.Path(b, ""), "telemetry", "zed-sample-data", "zeek-json", "dns.json.gz"))
}

// BenchmarkEVE reads the EVE fixture.
func BenchmarkEVE(b *testing.B) { benchRead(b, filepath.Join(testdata, "eve.json")) }
