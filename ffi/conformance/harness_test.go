package conformance

import (
	"math"
	"testing"
)

func TestRelErrRejectsNaN(t *testing.T) {
	if e := relErr([]float32{float32(math.NaN())}, []float64{1}); !math.IsInf(e, 1) {
		t.Fatalf("relErr with NaN = %v, want +Inf", e)
	}
	if e := relErr([]float32{1, 2}, []float64{1, 2}); e != 0 {
		t.Fatalf("relErr of equal = %v", e)
	}
}
