//go:build cgo && linux

package ffi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/internal/stubcuda"
)

// fakeLibCUDA builds testdata/fakecuda.c, a stub driver, into a shared
// library and points the loader at it in mode (see the file's comment).
func fakeLibCUDA(t *testing.T, mode string) {
	t.Helper()
	lib := stubcuda.Build(t, filepath.Join("testdata", "fakecuda.c"))
	t.Setenv(EnvLibCUDA, lib)
	t.Setenv("DISTAC_FAKE_CUDA", mode)
	closeCUDAHandle()
	t.Cleanup(closeCUDAHandle)
}

// Every way of having no usable GPU is an error of one line saying why,
// from Open("cuda") and from the device count, never a crash.
func TestCUDAUnavailable(t *testing.T) {
	cases := []struct{ mode, want string }{
		{"nodevice", "no CUDA device (cuInit"},
		{"zero", "no CUDA device (the driver"},
		{"old", "supports CUDA 11.8; distac's PTX (ISA 8.0) needs a driver for CUDA 12.0 or newer"},
		{"sm75", "compute capability 7.5; distac's CUDA kernels need 8.0 or newer"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			fakeLibCUDA(t, c.mode)
			be, err := Open("cuda", 0)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Open(cuda) = %v, %v; want one line containing %q", be, err, c.want)
			}
		})
	}
	t.Run("nolibrary", func(t *testing.T) {
		closeCUDAHandle()
		t.Setenv(EnvLibCUDA, filepath.Join(t.TempDir(), "libcuda.so.1"))
		_, err := Open("cuda", 0)
		if err == nil || !strings.Contains(err.Error(), "no CUDA driver: cannot load") {
			t.Fatalf("Open(cuda) without a library: %v", err)
		}
		if n, err := CUDADeviceCount(); err == nil || n != 0 {
			t.Fatalf("CUDADeviceCount without a library: %d, %v", n, err)
		}
	})
	t.Run("count", func(t *testing.T) {
		fakeLibCUDA(t, "nodevice")
		if n, err := CUDADeviceCount(); err != nil || n != 0 {
			t.Fatalf("CUDADeviceCount with no device: %d, %v (want 0, nil)", n, err)
		}
	})
}

// auto never picks CUDA where it cannot open, and follows DISTAC_BACKEND.
func TestAutoBackend(t *testing.T) {
	fakeLibCUDA(t, "nodevice")
	saved := autoPicksCUDA
	defer func() { autoPicksCUDA = saved }()
	autoPicksCUDA = true
	be, err := Open("auto", 0)
	if err != nil || be.Name() == "cuda" {
		t.Fatalf("auto without a GPU: %v, %v", be, err)
	}
	t.Setenv(EnvBackend, "ref")
	if be, err := Open("auto", 0); err != nil || be.Name() != "ref" {
		t.Fatalf("%s=ref: %v, %v", EnvBackend, be, err)
	}
	t.Setenv(EnvBackend, "cuda")
	if _, err := Open("auto", 0); err == nil || !strings.Contains(err.Error(), "DISTAC_BACKEND=cuda: cuda backend: no CUDA device") {
		t.Fatalf("%s=cuda without a GPU: %v", EnvBackend, err)
	}
	t.Setenv(EnvBackend, "")
	fakeLibCUDA(t, "device")
	if be, err := Open("auto", 0); err != nil || be.Name() != "cuda" {
		t.Fatalf("auto with a (stub) GPU and autoPicksCUDA: %v, %v", be, err)
	}
	autoPicksCUDA = false
	if be, err := Open("auto", 0); err != nil || be.Name() == "cuda" {
		t.Fatalf("auto with autoPicksCUDA off: %v, %v", be, err)
	}
}

// On the stub device (host memory, launches that do nothing) the backend's
// own plumbing runs: the PTX tables load, buffers round-trip, Zero clears,
// ownership and bounds are checked before anything is queued.
func TestCUDAStubDevice(t *testing.T) {
	fakeLibCUDA(t, "device")
	be, err := NewCUDA()
	if err != nil {
		t.Fatal(err)
	}
	in := be.Info()
	if in.Name != "fake H100" || in.CCMajor != 9 || in.PTXArch != "sm_90a" || in.Driver() != "12.4" || in.TotalMemory != 80<<30 {
		t.Fatalf("info: %+v", in)
	}
	b, err := be.Alloc(F32, 5)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 20)
	if err := be.Download(got, All(b)); err != nil || !bytes.Equal(got, make([]byte, 20)) {
		t.Fatalf("a new buffer is not zero: %v %v", got, err)
	}
	want := F32Bytes([]float32{1, 2, 3, 4, 5})
	if err := be.Upload(All(b), want); err != nil {
		t.Fatal(err)
	}
	if err := be.Download(got, All(b)); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if err := be.Zero(Vec{Buf: b, Off: 1, N: 2}); err != nil {
		t.Fatal(err)
	}
	be.Download(got, All(b))
	if !bytes.Equal(got, F32Bytes([]float32{1, 0, 0, 4, 5})) {
		t.Fatalf("zero of [1:3]: %v", got)
	}
	if err := be.Scale(Vec{Buf: b, Off: 3, N: 3}, 2); err == nil {
		t.Error("an out-of-bounds view was accepted")
	}
	ref := NewRef()
	rb, _ := ref.Alloc(F32, 5)
	if err := be.Axpy(1, All(rb), All(b)); err == nil || !strings.Contains(err.Error(), "another backend") {
		t.Errorf("a reference buffer was accepted: %v", err)
	}
	if err := be.Scale(All(b), 2); err != nil {
		t.Errorf("scale on the stub: %v", err)
	}
	if _, err := be.KLDistill(1, 5, Mat{b, 0, 5}, Mat{b, 0, 5}, 1, 1, Mat{}); err != nil {
		t.Errorf("kl distill on the stub: %v", err)
	}
	if err := be.SgemmBF16(false, true, 1, 1, 2, 1, Mat{b, 0, 2}, Mat{b, 2, 2}, 0, Mat{b, 4, 1}); err != nil {
		t.Errorf("bf16 gemm launch on the stub: %v", err)
	}
	be.Free(b)
	if err := be.Scale(All(b), 2); err == nil || !strings.Contains(err.Error(), "after Free") {
		t.Errorf("use after free: %v", err)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}

// The committed PTX is what scripts/ptx.sh writes from kernels/cuda/*.cu,
// when clang-19 is here to say so. The script runs into a temporary
// directory, so its flags are the only ones (no copy here to drift).
func TestPTXFresh(t *testing.T) {
	if _, err := exec.LookPath("clang-19"); err != nil {
		t.Skip("clang-19 not installed: cannot rebuild the PTX to compare")
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "ptx.sh"))
	cmd.Env = append(os.Environ(), "PTX_OUT="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/ptx.sh: %v\n%s", err, b)
	}
	for _, arch := range []string{"sm_80", "sm_90a"} {
		srcs, _ := filepath.Glob(filepath.Join("..", "kernels", "cuda", "*.cu"))
		if len(srcs) == 0 {
			t.Fatal("no kernels/cuda/*.cu")
		}
		for _, src := range srcs {
			name := strings.TrimSuffix(filepath.Base(src), ".cu")
			got, err := os.ReadFile(filepath.Join(dir, arch, name+".ptx"))
			if err != nil {
				t.Fatalf("scripts/ptx.sh wrote no %s/%s.ptx: %v", arch, name, err)
			}
			committed, err := os.ReadFile(filepath.Join("..", "kernels", "cuda", "ptx", arch, name+".ptx"))
			if err != nil || !bytes.Equal(got, committed) {
				t.Errorf("kernels/cuda/ptx/%s/%s.ptx is stale or missing: run scripts/ptx.sh", arch, name)
			}
		}
	}
}
