package evaluate

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Cost is what scoring with a method took.
type Cost struct {
	Seconds float64 `json:"seconds"` // wall time
	PeakMiB float64 `json:"peak_rss_mib"`

	// PeakOwn says whether the peak resident memory was reset before the
	// method ran, so that PeakMiB is the process's peak during the method
	// (the data and the record included). Without the reset, on systems
	// other than Linux, it is the peak since the process started.
	PeakOwn bool `json:"peak_own"`
}

// Measure runs f and returns its wall time and the process's peak resident
// memory while it ran. Before f it collects garbage and returns the freed
// memory to the system, so that an earlier method's garbage does not count
// against f.
func Measure(f func() error) (Cost, error) {
	runtime.GC()
	debug.FreeOSMemory()
	own := resetPeakRSS()
	start := time.Now()
	err := f()
	return Cost{Seconds: time.Since(start).Seconds(), PeakMiB: peakRSSMiB(),
		PeakOwn: own}, err
}
