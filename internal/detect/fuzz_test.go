package detect

import (
	"slices"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// FuzzIndexAgreement adds an arbitrary pattern to an index and matches it
// against fixed events: no panic, and the index answers what the general
// evaluator answers whenever the pattern's literals are canonical (see
// telemetry.Normalize): a pattern whose literals normalisation would change
// may match more in the index, by design.
func FuzzIndexAgreement(f *testing.F) {
	for _, p := range []string{
		"[ipv4-addr:value = '10.0.0.1']",
		"[ipv4-addr:value ISSUBSET '10.0.0.0/8' OR domain-name:value LIKE '%.example.com']",
		"[network-traffic:dst_ref.value = '10.0.0.2' AND network-traffic:dst_port = 443]",
		"[domain-name:value IN ('a.example.com', 'evil.org')] FOLLOWEDBY [url:value = 'http://evil.org/gate.php']",
		"[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
		"[network-traffic:protocols[*] = 'tcp'] WITHIN 10 SECONDS",
	} {
		f.Add(p)
	}
	events := []*telemetry.Event{
		event(t0, telemetry.Observable{Kind: telemetry.KindIPv4, Role: telemetry.RoleSrc, Value: "10.0.0.1"}, dst("10.0.0.2"),
			obs(telemetry.KindDstPort, "443"), obs(telemetry.KindProtocol, "tcp")),
		event(t0, obs(telemetry.KindDomain, "a.example.com"), obs(telemetry.KindURL, "http://evil.org/gate.php"),
			obs(telemetry.KindMD5, "d41d8cd98f00b204e9800998ecf8427e")),
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := pattern.Parse(src)
		if err != nil {
			return
		}
		x := New(Options{})
		if err := x.Add(Indicator{ID: "indicator--f", Modified: "2018-01-01T00:00:00Z", Pattern: src}); err != nil {
			t.Fatalf("parsed pattern rejected: %v", err)
		}
		canonical := canonicalLiterals(p)
		for _, ev := range events {
			got := len(x.Match(ev)) == 1
			want, err := p.Match(Observations(ev))
			if err != nil {
				want = false
			}
			if got != want && (canonical || !got) {
				t.Fatalf("pattern %s: index %v, evaluator %v (err %v)", src, got, want, err)
			}
		}
		x.Remove("indicator--f")
		for _, ev := range events {
			if len(x.Match(ev)) != 0 {
				t.Fatal("removed indicator matches")
			}
		}
	})
}

// canonicalLiterals reports whether every string literal compared with a
// path the index knows is already in canonical form.
func canonicalLiterals(p *pattern.Pattern) bool {
	ok := true
	var comp func(pattern.ComparisonExpr)
	comp = func(e pattern.ComparisonExpr) {
		switch n := e.(type) {
		case *pattern.ComparisonParen:
			comp(n.Inner)
		case *pattern.ComparisonBinary:
			comp(n.Left)
			comp(n.Right)
		case *pattern.Comparison:
			path := n.Path.String()
			kind := telemetry.KindOfPath(path)
			if _, ref := rolePaths[path]; ref {
				kind = telemetry.KindIPv4
			}
			lits := []pattern.Literal{n.Value}
			if n.Value.Kind == pattern.KindSet {
				lits = n.Value.Set
			}
			for _, l := range lits {
				if l.Kind != pattern.KindString || kind == telemetry.KindInvalid {
					continue
				}
				s := l.Str
				if n.Op == pattern.OpLike && len(s) > 2 && s[:2] == "%." {
					s = s[2:]
				}
				if kind == telemetry.KindIPv4 || kind == telemetry.KindIPv6 {
					if slices.Contains([]byte(s), '/') {
						ok = false // "= 'a.b.c.d/n'" is a block to the index
						continue
					}
					if v, good := telemetry.Normalize(telemetry.KindIPv6, s); good && v != s {
						ok = false
					}
					continue
				}
				if v, good := telemetry.Normalize(kind, s); good && v != s {
					ok = false
				}
			}
		}
	}
	var obsExpr func(pattern.ObservationExpr)
	obsExpr = func(e pattern.ObservationExpr) {
		switch n := e.(type) {
		case *pattern.ObservationComparison:
			comp(n.Expr)
		case *pattern.ObservationParen:
			obsExpr(n.Inner)
		case *pattern.ObservationQualified:
			obsExpr(n.Inner)
		case *pattern.ObservationBinary:
			obsExpr(n.Left)
			obsExpr(n.Right)
		}
	}
	obsExpr(p.Root)
	return ok
}
