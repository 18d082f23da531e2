package pattern

import "testing"

var benchPatterns = []struct{ name, src string }{
	{"hash", "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']"},
	{"ipv4", "[ipv4-addr:value = '198.51.100.1']"},
	{"compound", "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com'] REPEATS 5 TIMES WITHIN 1800 SECONDS"},
	{"complex", "([file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4' OR file:name IN ('a.exe', 'b.dll', 'c.sys')] FOLLOWEDBY [windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\foo\\\\bar' AND windows-registry-key:values[*].data MATCHES '^evil']) WITHIN 300 SECONDS"},
}

// BenchmarkParse measures Parse on typical indicator patterns (bulk
// import parses one per indicator).
func BenchmarkParse(b *testing.B) {
	for _, bp := range benchPatterns {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bp.src)))
			for b.Loop() {
				if _, err := Parse(bp.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
