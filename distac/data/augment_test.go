package data

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRotate90: one turn moves the top-right corner to the top-left (numpy
// rot90); four turns and k, k+4, k-4 agree; 1 then 3 turns is the identity;
// in place works; bad shapes are refused.
func TestRotate90(t *testing.T) {
	// 2 channels of 3x3: values 0..8 and 10..18.
	img := make([]float32, 18)
	for i := range img {
		img[i] = float32(i%9 + 10*(i/9))
	}
	one := make([]float32, 18)
	if err := Rotate90(img, 2, 3, 3, 1, one); err != nil {
		t.Fatal(err)
	}
	// np.rot90([[0,1,2],[3,4,5],[6,7,8]]) = [[2,5,8],[1,4,7],[0,3,6]]
	want := []float32{2, 5, 8, 1, 4, 7, 0, 3, 6, 12, 15, 18, 11, 14, 17, 10, 13, 16}
	if !cmp.Equal(one, want) {
		t.Fatalf("one turn: %v, want %v", one, want)
	}
	rot := func(src []float32, k int) []float32 {
		out := make([]float32, len(src))
		if err := Rotate90(src, 2, 3, 3, k, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	two := rot(img, 2)
	if !cmp.Equal(two, rot(one, 1)) || two[0] != 8 || two[8] != 0 {
		t.Fatalf("two turns: %v", two)
	}
	for k := -5; k <= 5; k++ {
		if !cmp.Equal(rot(img, k), rot(img, k+4)) {
			t.Fatalf("k=%d and k=%d differ", k, k+4)
		}
		if !cmp.Equal(rot(rot(img, k), -k), img) {
			t.Fatalf("k=%d then %d is not the identity", k, -k)
		}
	}
	inPlace := append([]float32(nil), img...)
	if err := Rotate90(inPlace, 2, 3, 3, 1, inPlace); err != nil || !cmp.Equal(inPlace, want) {
		t.Fatalf("in place: %v %v", err, inPlace)
	}
	wantErr(t, Rotate90(img, 1, 3, 6, 1, make([]float32, 18)), "square")
	wantErr(t, Rotate90(img, 2, 3, 3, 1, make([]float32, 17)), "17 out")
}

// TestMixup: a fixed λ mixes exactly; a Beta(α, α) λ has the right mean and
// variance and is reproducible; bad arguments are refused.
func TestMixup(t *testing.T) {
	a, b := []float32{1, 0, 2}, []float32{0, 1, -2}
	dst := make([]float32, 3)
	lam, err := Mixup(nil, a, b, 0.25, dst)
	if err != nil || lam != 0.25 || !cmp.Equal(dst, []float32{0.25, 0.75, -1}) {
		t.Fatalf("λ=0.25: %v %v %v", lam, dst, err)
	}
	for _, alpha := range []float64{0.2, 1, 4} {
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 40000
		var sum, sq float64
		for i := 0; i < n; i++ {
			l, err := Mixup(rng, a, b, float32(alpha), dst)
			if err != nil || l < 0 || l > 1 || dst[0] != l {
				t.Fatalf("α=%v: λ %v dst %v err %v", alpha, l, dst, err)
			}
			sum += float64(l)
			sq += float64(l) * float64(l)
		}
		mean := sum / n
		variance := sq/n - mean*mean
		wantVar := 1 / (4 * (2*alpha + 1)) // Beta(α, α)
		if math.Abs(mean-0.5) > 0.01 || math.Abs(variance-wantVar) > 0.05*wantVar {
			t.Errorf("α=%v: λ mean %.4f var %.4f, want 0.5 and %.4f", alpha, mean, variance, wantVar)
		}
		l1, _ := Mixup(rand.New(rand.NewPCG(7, 7)), a, b, float32(alpha), dst)
		l2, _ := Mixup(rand.New(rand.NewPCG(7, 7)), a, b, float32(alpha), dst)
		if l1 != l2 {
			t.Errorf("α=%v: same seed, λ %v and %v", alpha, l1, l2)
		}
	}
	_, err = Mixup(nil, a, b, 1.5, dst)
	wantErr(t, err, "lambda 1.5")
	_, err = Mixup(rand.New(rand.NewPCG(1, 1)), a, b, 0, dst)
	wantErr(t, err, "alpha 0")
	_, err = Mixup(nil, a, b[:2], 0.5, dst)
	wantErr(t, err, "lengths")
}
