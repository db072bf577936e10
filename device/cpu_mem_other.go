//go:build !linux

package device

// physicalMemory returns 0: the size of memory is not known here.
func physicalMemory() uint64 { return 0 }
