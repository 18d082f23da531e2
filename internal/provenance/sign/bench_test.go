package sign

import (
	"testing"
)

// BenchmarkSign and BenchmarkVerify measure a signature over the indicator
// fixture, canonicalisation included.
func BenchmarkSign(b *testing.B) {
	for _, alg := range []Alg{Ed25519, Ed25519MLDSA65} {
		b.Run(string(alg), func(b *testing.B) {
			k := testKey(b, alg, "bench")
			for b.Loop() {
				if _, err := Sign(k, orgA, []byte(indicator)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []Alg{Ed25519, Ed25519MLDSA65} {
		b.Run(string(alg), func(b *testing.B) {
			k := testKey(b, alg, "bench")
			var ring Keyring
			if err := ring.Add(orgA, k.Public()); err != nil {
				b.Fatal(err)
			}
			s, err := Sign(k, orgA, []byte(indicator))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := ring.Verify(s, []byte(indicator)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
