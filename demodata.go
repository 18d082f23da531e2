// Package kizuna holds the files shipped inside the kizuna binary. The code
// lives in cmd/ and internal/.
package kizuna

import "embed"

// DemoData holds the real public data `kizuna demo` loads, under
// testdata/demo/ (sources and licences: testdata/demo/README.md and NOTICE).
//
//go:embed testdata/demo/*.json testdata/demo/README.md testdata/demo/ATTACK-LICENSE.txt
var DemoData embed.FS
