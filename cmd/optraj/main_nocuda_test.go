//go:build !cuda

package main

import (
	"path/filepath"
	"testing"

	"github.com/optraj/optraj/device"
)

func TestAttributeCUDAWithoutBuild(t *testing.T) {
	data := writeTinyMNIST(t)
	out := filepath.Join(t.TempDir(), "out")
	_, _, err := runCmd(t, append([]string{"attribute"},
		jobArgs(data, out, "-device", "cuda")...)...)
	checkError(t, err, device.ErrNoCUDABuild, "-tags cuda")
	checkNoResults(t, out)
}
