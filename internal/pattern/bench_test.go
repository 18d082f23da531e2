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

// BenchmarkMatch measures Match of typical indicator patterns against a
// batch of 1,000 observations (one SCO each, one in ten matching).
func BenchmarkMatch(b *testing.B) {
	var sb []byte
	sb = append(sb, '[')
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb = append(sb, ',')
		}
		ip := "10.0.0." + itoa(i%250)
		if i%10 == 0 {
			ip = "198.51.100." + itoa(i%250)
		}
		ts := "2026-01-01T10:" + twoDigits(i/60%60) + ":" + twoDigits(i%60) + "Z"
		sb = append(sb, `{"type":"observed-data","id":"observed-data--`+itoa(i)+`","first_observed":"`+ts+`","last_observed":"`+ts+`","number_observed":1,"object_refs":["ipv4-addr--`+itoa(i)+`"]},`...)
		sb = append(sb, `{"type":"ipv4-addr","id":"ipv4-addr--`+itoa(i)+`","value":"`+ip+`"}`...)
	}
	sb = append(sb, ']')
	obs := obsJSON(b, string(sb))
	for _, bp := range []struct{ name, src string }{
		{"equal", "[ipv4-addr:value = '198.51.100.200']"},
		{"issubset", "[ipv4-addr:value ISSUBSET '198.51.100.0/24']"},
		{"followedby-within", "([ipv4-addr:value = '198.51.100.10'] FOLLOWEDBY [ipv4-addr:value ISSUBSET '198.51.100.0/24']) WITHIN 60 SECONDS"},
		{"repeats", "[ipv4-addr:value ISSUBSET '198.51.100.0/24'] REPEATS 5 TIMES WITHIN 300 SECONDS"},
	} {
		p, err := Parse(bp.src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Match(obs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}
