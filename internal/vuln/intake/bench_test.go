package intake

import (
	"fmt"
	"testing"
)

// BenchmarkCVE5Affect reads one affected product with n version entries
// (half ranges with a lessThan bound, half unaffected versions) and 100
// CPEs, the shape of the largest vendor records (one Cisco record lists
// 2,434 versions for 2,434 CPEs).
func BenchmarkCVE5Affect(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		a := cve5Affected{Vendor: "cisco", Product: "ios", DefaultStatus: "unaffected"}
		for i := range n {
			if i%2 == 0 {
				a.Versions = append(a.Versions, cve5Version{Version: fmt.Sprintf("%d.0", i), LessThan: fmt.Sprintf("%d.5", i), Status: "affected"})
			} else {
				a.Versions = append(a.Versions, cve5Version{Version: fmt.Sprintf("%d.9", i), Status: "unaffected"})
			}
		}
		for i := range 100 {
			a.CPEs = append(a.CPEs, fmt.Sprintf("cpe:2.3:o:cisco:ios:%d.0:*:*:*:*:*:*:*", i))
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				out, err := cve5Affect("bench.json", "containers.cna.affected[0]", a)
				if err != nil || len(out) != 100 {
					b.Fatalf("%d entries, %v", len(out), err)
				}
			}
		})
	}
}
