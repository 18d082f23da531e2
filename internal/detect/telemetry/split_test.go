package telemetry

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSplitByte checks the eight-bytes-at-a-time split against
// bytes.Split on random lines full of separators and their neighbours
// (0x08 and 0x0a next to a tab defeat the naive zero-byte test).
func TestSplitByte(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'\t', '\t', 0x08, 0x0a, 0x89, 0x01, 0x00, 0xff, 'a', '-'}
	for n := 0; n < 20000; n++ {
		line := make([]byte, r.IntN(40))
		for i := range line {
			line[i] = alphabet[r.IntN(len(alphabet))]
		}
		for _, sep := range []byte{'\t', 0x00, 0xff} {
			got := splitByte(nil, line, sep)
			want := bytes.Split(line, []byte{sep})
			if len(got) != len(want) {
				t.Fatalf("%q on %#x: %d fields, want %d", line, sep, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%q on %#x: field %d %q, want %q", line, sep, i, got[i], want[i])
				}
			}
		}
	}
}
