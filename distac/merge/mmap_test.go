package merge

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// rssFileKiB is this process's resident file-backed memory (Linux).
func rssFileKiB(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestMergeReleasesPages: while three 32 MiB models stream through a merge,
// the mapped (resident) part of them stays a few blocks per worker, not the
// models: consumed pages are released.
func TestMergeReleasesPages(t *testing.T) {
	dir := t.TempDir()
	const n = 8 << 20 // 32 MiB of f32 per model
	mk := func(name string, v float32) string {
		p := filepath.Join(dir, name)
		w, err := checkpoint.Create(p, []checkpoint.OutTensor{{Name: "w", DType: safetensors.F32, Shape: []uint64{n}}}, nil, 0, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]float32, 1<<20)
		for i := range buf {
			buf[i] = v * float32(i%7)
		}
		for off := 0; off < n; off += len(buf) {
			if err := w.WriteAt(0, int64(off)*4, f32bytes(buf)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base, a, b := mk("base.safetensors", 1), mk("a.safetensors", 2), mk("b.safetensors", 3)
	for _, method := range []string{MethodTA, MethodTIES} {
		before := rssFileKiB(t)
		var mu sync.Mutex
		var peak int64
		o := mergeOpts(method, base, []string{a, b}, filepath.Join(dir, method+".safetensors"), best(t))
		o.ChunkElems = 0 // the default streaming chunk
		o.Threads = 2
		o.Progress = func(done, total int64) {
			r := rssFileKiB(t)
			mu.Lock()
			peak = max(peak, r)
			mu.Unlock()
		}
		if _, err := Run(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		// Inputs are 96 MiB; allow a few 2 MiB blocks per file and worker.
		if grown := peak - before; grown > 24<<10 {
			t.Errorf("%s: resident file pages grew by %d MiB while merging 96 MiB", method, grown>>10)
		}
		t.Logf("%s: resident file pages grew by at most %d KiB", method, peak-before)
	}
}

func f32bytes(x []float32) []byte { return ffi.F32Bytes(x) }
