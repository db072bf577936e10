//go:build !linux

package evaluate

// resetPeakRSS reports that the peak resident memory cannot be reset
// outside Linux.
func resetPeakRSS() bool { return false }

// peakRSSMiB returns 0: the peak resident memory is measured on Linux
// only.
func peakRSSMiB() float64 { return 0 }
