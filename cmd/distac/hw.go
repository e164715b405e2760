package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/klauspost/cpuid/v2"

	"github.com/distac/distac/ffi"
)

func init() {
	register("hw", "print the CPU, its features, the kernel path of each op and a self-check", runHW)
}

func runHW(args []string) error {
	fs := newFlagSet("hw", `usage: distac hw [flags]

Prints the CPU, its features, the kernel path each op family takes on the
chosen backend, and (unless -no-check) a self-check of every op family
against the reference backend; it exits non-zero if any disagrees.

flags:
`)
	backend := addBackendFlag(fs)
	threads := intFlag(fs, "threads", 0, 0, "kernel threads (0: one per CPU)")
	noCheck := fs.Bool("no-check", false, "skip the self-check")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	be, err := ffi.Open(*backend, *threads)
	if err != nil {
		return err
	}
	failed := printHW(os.Stdout, be, !*noCheck)
	if failed > 0 {
		return fmt.Errorf("self-check: %d op families failed", failed)
	}
	return nil
}

// opFamilies are the kernel families and the C source each lives in.
var opFamilies = []struct{ name, source string }{
	{"sgemm", "kernels/avx/gemm.c"},
	{"kl_distill", "kernels/avx/kl.c"},
	{"xent_ls", "kernels/avx/xent.c"},
	{"convert", "kernels/avx/convert.c"},
	{"taskvec (sub, sumsq, scale, axpy, wsum)", "kernels/avx/taskvec.c"},
	{"topk (abs_histogram, abs_window)", "kernels/avx/topk.c"},
	{"ties (trim, merge)", "kernels/avx/ties.c"},
	{"tall_consensus", "kernels/avx/tall.c"},
	{"train (layernorm, gelu, softmax, bias, adam)", "kernels/avx/{layernorm,gelu,softmax,bias,adam}.c"},
	{"attention (fused core, forward + backward)", "kernels/avx/attention{,_avx2,_avx512}.c"},
	{"l2norm (row normalize, forward + backward)", "kernels/avx/l2norm.c"},
}

// printHW writes the hardware report and returns the number of failed checks.
func printHW(w io.Writer, be ffi.Backend, check bool) int {
	c := cpuid.CPU
	fmt.Fprintf(w, "CPU        %s (%s family %d model %d)\n", c.BrandName, c.VendorString, c.Family, c.Model)
	fmt.Fprintf(w, "cores      %d logical, %d physical, GOMAXPROCS %d\n", runtime.NumCPU(), c.PhysicalCores, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "caches     L1d %s, L2 %s, L3 %s\n", kib(c.Cache.L1D), kib(c.Cache.L2), kib(c.Cache.L3))
	fmt.Fprintf(w, "features   ")
	for _, f := range []struct {
		name string
		id   cpuid.FeatureID
	}{{"AVX2", cpuid.AVX2}, {"FMA", cpuid.FMA3}, {"F16C", cpuid.F16C}, {"AVX512F", cpuid.AVX512F},
		{"AVX512BW", cpuid.AVX512BW}, {"AVX512VL", cpuid.AVX512VL}, {"AVX512_BF16", cpuid.AVX512BF16}} {
		mark := "-"
		if c.Supports(f.id) {
			mark = "+"
		}
		fmt.Fprintf(w, "%s%s ", mark, f.name)
	}
	fmt.Fprintln(w)
	for _, isa := range ffi.ISAs {
		fmt.Fprintf(w, "path %-6s cpuid: %-3s kernels: %s\n", isa, yes(ffi.CPUHas(isa)), yes(ffi.KernelsSupport(isa)))
	}
	if v := os.Getenv(ffi.EnvCPU); v != "" {
		fmt.Fprintf(w, "%s=%s\n", ffi.EnvCPU, v)
	}
	fmt.Fprintf(w, "backend    %s\n\n", be.Name())
	for _, f := range opFamilies {
		fmt.Fprintf(w, "  %-45s -> %s (%s)\n", f.name, be.Name(), f.source)
	}
	if !check {
		return 0
	}
	fmt.Fprintf(w, "\nself-check against the reference backend:\n")
	failed := 0
	for _, r := range ffi.SelfCheck(be) {
		status := "ok"
		detail := fmt.Sprintf("rel err %.2g (bound %.0g), %v", r.RelErr, r.Bound, r.Elapsed.Round(1000))
		if r.Err != nil {
			status, detail = "FAIL", r.Err.Error()
		} else if !r.OK() {
			status = "FAIL"
		}
		if status != "ok" {
			failed++
		}
		fmt.Fprintf(w, "  %-4s %-22s %s\n", status, r.Op, detail)
	}
	return failed
}

func kib(bytes int) string {
	if bytes <= 0 {
		return "?"
	}
	if bytes >= 1<<20 {
		return fmt.Sprintf("%d MiB", bytes>>20)
	}
	return fmt.Sprintf("%d KiB", bytes>>10)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
