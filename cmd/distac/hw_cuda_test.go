package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/stubcuda"
)

// runHWChild runs `distac hw ARGS` in a child process with env added and
// returns its exit code, stdout and stderr.
func runHWChild(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), "DISTAC_TEST_CHILD="+strings.Join(append([]string{"hw"}, args...), "\t"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// stubLibCUDA builds ffi/testdata/fakecuda.c, a stub CUDA driver.
func stubLibCUDA(t *testing.T) string {
	t.Helper()
	return stubcuda.Build(t, filepath.Join("..", "..", "ffi", "testdata", "fakecuda.c"))
}

// `distac hw --backend cuda` where there is no GPU exits non-zero with one
// line saying why: no driver library at all, or a driver with no device.
// With a stub device it prints the GPU and the CUDA kernel of each family.
func TestHWCUDAWithoutGPU(t *testing.T) {
	if !ffi.CUDABuilt() {
		t.Skip("this build holds no CUDA backend (it needs cgo on Linux)")
	}
	lib := stubLibCUDA(t)
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"no library", []string{ffi.EnvLibCUDA + "=" + filepath.Join(t.TempDir(), "libcuda.so.1")}, "no CUDA driver: cannot load"},
		{"no device", []string{ffi.EnvLibCUDA + "=" + lib, "DISTAC_FAKE_CUDA=nodevice"}, "no CUDA device"},
		{"old driver", []string{ffi.EnvLibCUDA + "=" + lib, "DISTAC_FAKE_CUDA=old"}, "CUDA 12.0 or newer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runHWChild(t, c.env, "--backend", "cuda")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], c.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want non-zero and one line with %q", code, stdout, stderr, c.want)
			}
		})
	}
	t.Run("stub device", func(t *testing.T) {
		code, stdout, stderr := runHWChild(t, []string{ffi.EnvLibCUDA + "=" + lib, "DISTAC_FAKE_CUDA=device"}, "--backend", "cuda", "-no-check")
		for _, want := range []string{"gpu        fake H100, compute capability 9.0", "PTX sm_90a", "never run on a GPU",
			"backend    cuda", "-> cuda (kernels/cuda/kl.cu)", "svd methods"} {
			if code != 0 || !strings.Contains(stdout, want) {
				t.Errorf("exit %d, output lacks %q:\n%s%s", code, want, stdout, stderr)
			}
		}
	})
	t.Run("cpu backend says why there is no gpu", func(t *testing.T) {
		_, stdout, _ := runHWChild(t, []string{ffi.EnvLibCUDA + "=" + lib, "DISTAC_FAKE_CUDA=nodevice"}, "--backend", "ref", "-no-check")
		if !strings.Contains(stdout, "gpu        none: the CUDA driver reports no device") {
			t.Errorf("hw on ref lacks the gpu line:\n%s", stdout)
		}
	})
}
