package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	e := engines(t)[0]
	c := tinyViT(false)
	l := LayoutOf(c)
	p := randomParams(t, e, l, 1)
	want, _ := ffi.ReadF32(e, p.All())
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := SaveParams(e, c, p, path, SaveOptions{Prefix: "model.visual."}); err != nil {
		t.Fatal(err)
	}
	if err := SaveParams(e, c, p, path, SaveOptions{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrite without force: err = %v", err)
	}
	ck := testutil.Open(t, path)
	c2, prefix, err := ConfigOf(ck)
	if err != nil || prefix != "model.visual." || c2.JSON() != c.JSON() {
		t.Fatalf("config from metadata: %v %q %v", c2, prefix, err)
	}
	q, err := LoadParams(e, ck, l, prefix)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ffi.ReadF32(e, q.All())
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("loaded parameters differ from the saved ones (-saved +loaded):\n%s", d)
	}
	if _, err := LoadParams(e, ck, l, ""); err == nil || !strings.Contains(err.Error(), "tensor conv1.weight is missing") {
		t.Fatalf("wrong prefix: err = %v", err)
	}
	if _, err := LoadParams(e, ck, LayoutOf(tinyViT(true)), prefix); err != nil {
		t.Fatalf("same shapes, other activation: %v", err)
	}
	other, _ := ParseConfig([]byte(`{"embed_dim": 6, "vision_cfg": {"image_size": 8, "patch_size": 4, "width": 8, "layers": 2, "heads": 2, "in_channels": 3}}`))
	if _, err := LoadParams(e, ck, LayoutOf(other), prefix); err == nil || !strings.Contains(err.Error(), "has shape [8 2 4 4]") {
		t.Fatalf("shape mismatch: err = %v", err)
	}

	// Like: carry the other tensors, keep their dtypes; bf16 on request.
	like := filepath.Join(dir, "like.safetensors")
	if err := SaveParams(e, c, p, like, SaveOptions{Prefix: "model.visual.", DType: "bf16"}); err != nil {
		t.Fatal(err)
	}
	lk := testutil.Open(t, like)
	if tn, _ := lk.Tensor("model.visual.proj"); tn.DType != safetensors.BF16 {
		t.Fatalf("bf16 output has dtype %s", tn.DType)
	}
	q2, err := LoadParams(e, lk, l, "model.visual.")
	if err != nil {
		t.Fatal(err)
	}
	got2, _ := ffi.ReadF32(e, q2.All())
	if d := testutil.ApproxDiff(want, got2, 4e-3); d != "" || cmp.Equal(want, got2) {
		t.Fatalf("bf16 round trip: not rounded, or rounded too far (-f32 +bf16):\n%s", d)
	}
	out := filepath.Join(dir, "carried.safetensors")
	if err := SaveParams(e, c, p, out, SaveOptions{Prefix: "model.visual.", Like: lk}); err != nil {
		t.Fatal(err)
	}
	ok := testutil.Open(t, out)
	if tn, _ := ok.Tensor("model.visual.proj"); tn.DType != safetensors.BF16 {
		t.Fatalf("carried output has dtype %s, want Like's bf16", tn.DType)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}
