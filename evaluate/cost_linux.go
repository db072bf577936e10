package evaluate

import (
	"os"
	"syscall"
)

// resetPeakRSS resets the process's peak resident set size, the high-water
// mark that getrusage reports as ru_maxrss, by writing 5 to
// /proc/self/clear_refs (Linux 4.0 and later). It reports whether the
// reset took.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSMiB returns getrusage's maximum resident set size, which Linux
// reports in KiB.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
