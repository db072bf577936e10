package device

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmSwappedIsExact checks that the transposed route of Gemm gives
// the direct route's result bit for bit, for every transpose, α and β:
// replay of a recorded trajectory depends on it not mattering which
// route a product takes.
func TestGemmSwappedIsExact(t *testing.T) {
	const m, n, k = 37, 1203, 301 // odd sizes, with k·n past swapMinB
	if !swapGemm(m, n, k) {
		t.Fatalf("swapGemm(%d, %d, %d) is false; the test needs the swapped route", m, n, k)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	a, b, c0 := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		for _, s := range [][2]float32{{1, 0}, {0.5, 0}, {1, 1}, {-1.5, 0.25}} {
			name := fmt.Sprintf("transA=%v,transB=%v,alpha=%v,beta=%v", tr[0], tr[1], s[0], s[1])
			t.Run(name, func(t *testing.T) {
				dev := NewCPU(0)
				want := append([]float32(nil), c0...)
				dev.gemmDirect(tr[0], tr[1], m, n, k, s[0], a, b, s[1], want)
				got := append([]float32(nil), c0...)
				dev.gemmSwapped(tr[0], tr[1], m, n, k, s[0], a, b, s[1], got)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) &&
						(got[i] != 0 || want[i] != 0) { // ±0 alike
						t.Fatalf("element %d (row %d, column %d): swapped %v, direct %v",
							i, i/n, i%n, got[i], want[i])
					}
				}
			})
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}
