//go:build !unix

package route

import "time"

// cpuTime is unknown here: CPU metrics report 0.
func cpuTime() time.Duration { return 0 }
