package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

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
against the reference backend; it exits non-zero if any disagrees. --json
prints the same as one object.

flags:
`)
	backend := addBackendFlag(fs)
	threads := addThreadsFlag(fs, "", "kernel threads of the self-check")
	noCheck := fs.Bool("no-check", false, "skip the self-check")
	asJSON := addJSONFlag(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	be, err := ffi.Open(*backend, *threads)
	if err != nil {
		return err
	}
	r := hwReport(be, !*noCheck)
	if *asJSON {
		if err := writeJSON(os.Stdout, r); err != nil {
			return err
		}
	} else {
		printHW(os.Stdout, r)
	}
	if r.Failed > 0 {
		return fmt.Errorf("self-check: %d op families failed", r.Failed)
	}
	return nil
}

// hwInfo is what hw reports (its --json output).
type hwInfo struct {
	CPU        string          `json:"cpu"`
	Vendor     string          `json:"vendor"`
	Family     int             `json:"family"`
	Model      int             `json:"model"`
	Logical    int             `json:"logical_cpus"`
	Physical   int             `json:"physical_cores"`
	GOMAXPROCS int             `json:"gomaxprocs"`
	Caches     map[string]int  `json:"cache_bytes"`
	Features   map[string]bool `json:"features"`
	Paths      []hwPath        `json:"paths"`
	EnvCPU     string          `json:"env_cpu,omitempty"`
	Backend    string          `json:"backend"`
	Version    string          `json:"version"`
	CUDA       string          `json:"cuda"` // the GPU's state in one line
	GPU        *ffi.CUDAInfo   `json:"gpu,omitempty"`
	BF16       string          `json:"bf16_gemm,omitempty"` // how the CPU backend's bf16 GEMM runs
	Checks     []hwCheck       `json:"self_check,omitempty"`
	Failed     int             `json:"failed"`
}

type hwPath struct {
	ISA     string `json:"isa"`
	CPUID   bool   `json:"cpuid"`
	Kernels bool   `json:"kernels"`
}

type hwCheck struct {
	Op      string  `json:"op"`
	OK      bool    `json:"ok"`
	RelErr  float64 `json:"rel_err"`
	Bound   float64 `json:"bound"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
	Skipped bool    `json:"skipped,omitempty"`
}

// hwFeatures are the CPU features hw lists, in its order.
var hwFeatures = []struct {
	name string
	id   cpuid.FeatureID
}{{"AVX2", cpuid.AVX2}, {"FMA", cpuid.FMA3}, {"F16C", cpuid.F16C}, {"AVX512F", cpuid.AVX512F},
	{"AVX512BW", cpuid.AVX512BW}, {"AVX512VL", cpuid.AVX512VL}, {"AVX512_BF16", cpuid.AVX512BF16}}

func hwReport(be ffi.Backend, check bool) *hwInfo {
	c := cpuid.CPU
	r := &hwInfo{CPU: c.BrandName, Vendor: c.VendorString, Family: c.Family, Model: c.Model, Logical: runtime.NumCPU(),
		Physical: c.PhysicalCores, GOMAXPROCS: runtime.GOMAXPROCS(0), Features: map[string]bool{},
		Caches: map[string]int{"l1d": c.Cache.L1D, "l2": c.Cache.L2, "l3": c.Cache.L3},
		EnvCPU: os.Getenv(ffi.EnvCPU), Backend: be.Name(), Version: versionText()}
	for _, f := range hwFeatures {
		r.Features[f.name] = c.Supports(f.id)
	}
	for _, isa := range ffi.ISAs {
		r.Paths = append(r.Paths, hwPath{ISA: isa, CPUID: ffi.CPUHas(isa), Kernels: ffi.KernelsSupport(isa)})
	}
	r.CUDA = cudaState(be)
	if n, ok := be.(interface{ BF16GemmNative() bool }); ok {
		r.BF16 = "the fp32 GEMM on bf16-rounded operands, at fp32 speed"
		if n.BF16GemmNative() {
			r.BF16 = "vdpbf16ps"
		}
	}
	if g, ok := be.(*ffi.CUDA); ok {
		info := g.Info()
		r.GPU = &info
	}
	if !check {
		return r
	}
	for _, k := range ffi.SelfCheck(be) {
		hc := hwCheck{Op: k.Op, OK: k.OK(), RelErr: k.RelErr, Bound: k.Bound, Seconds: k.Elapsed.Seconds(), Skipped: k.Skipped}
		if k.Err != nil {
			hc.Error = k.Err.Error()
		}
		if !hc.OK {
			r.Failed++
		}
		r.Checks = append(r.Checks, hc)
	}
	return r
}

// opFamilies are the kernel families and the C source each lives in.
var opFamilies = []struct{ name, source string }{
	{"sgemm", "kernels/avx/gemm.c"},
	{"sgemm_bf16 (--precision bf16)", "kernels/avx/gemm_bf16.c"},
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

// cudaOpFamilies are the CUDA kernel families, their device source and
// what runs; none of them has run on a GPU yet.
var cudaOpFamilies = []struct{ name, source string }{
	{"sgemm", "kernels/cuda/gemm.cu: tiled SIMT fp32 (no tensor cores yet)"},
	{"sgemm_bf16 (--precision bf16)", "kernels/cuda/gemm.cu: the SIMT kernel on bf16-rounded operands (no tensor cores yet)"},
	{"kl_distill", "kernels/cuda/kl.cu"},
	{"xent_ls", "kernels/cuda/xent.cu"},
	{"convert", "kernels/cuda/convert.cu"},
	{"taskvec (sub, sumsq, scale, axpy, wsum)", "kernels/cuda/taskvec.cu"},
	{"topk (abs_histogram, abs_window)", "kernels/cuda/topk.cu"},
	{"ties (trim, merge)", "kernels/cuda/ties.cu"},
	{"tall_consensus", "kernels/cuda/tall.cu"},
	{"dare", "kernels/cuda/dare.cu"},
	{"train (layernorm, gelu, softmax, bias, adam)", "kernels/cuda/{layernorm,gelu,softmax,bias,adam}.cu"},
	{"attention (fused core, forward + backward)", "kernels/cuda/attention.cu"},
	{"l2norm (row normalize, forward + backward)", "kernels/cuda/l2norm.cu"},
	{"svd methods (tsvm, isoc, isocts)", "the CPU path (gonum SVD): not on the GPU"},
}

// cudaState is the GPU line: the device the backend runs on, or whether a
// GPU is there and how to use it, or why not.
func cudaState(be ffi.Backend) string {
	if g, ok := be.(*ffi.CUDA); ok {
		in := g.Info()
		return fmt.Sprintf("%s, compute capability %d.%d, %d SMs, %.1f GiB, driver CUDA %s, PTX %s (%s); kernels never run on a GPU before",
			in.Name, in.CCMajor, in.CCMinor, in.Multiprocessors, float64(in.TotalMemory)/(1<<30), in.Driver(), in.PTXArch, in.Library)
	}
	n, err := ffi.CUDADeviceCount()
	switch {
	case err != nil:
		return "none: " + err.Error()
	case n == 0:
		return "none: the CUDA driver reports no device"
	}
	return fmt.Sprintf("%d device(s); --backend cuda to use it (its kernels have never run on a GPU, so auto keeps the CPU)", n)
}

// printHW writes the hardware report.
func printHW(w io.Writer, r *hwInfo) {
	fmt.Fprintf(w, "CPU        %s (%s family %d model %d)\n", r.CPU, r.Vendor, r.Family, r.Model)
	fmt.Fprintf(w, "cores      %d logical, %d physical, GOMAXPROCS %d\n", r.Logical, r.Physical, r.GOMAXPROCS)
	fmt.Fprintf(w, "caches     L1d %s, L2 %s, L3 %s\n", kib(r.Caches["l1d"]), kib(r.Caches["l2"]), kib(r.Caches["l3"]))
	fmt.Fprintf(w, "features   ")
	for _, f := range hwFeatures {
		mark := "-"
		if r.Features[f.name] {
			mark = "+"
		}
		fmt.Fprintf(w, "%s%s ", mark, f.name)
	}
	fmt.Fprintln(w)
	for _, p := range r.Paths {
		fmt.Fprintf(w, "path %-6s cpuid: %-3s kernels: %s\n", p.ISA, yes(p.CPUID), yes(p.Kernels))
	}
	if r.EnvCPU != "" {
		fmt.Fprintf(w, "%s=%s\n", ffi.EnvCPU, r.EnvCPU)
	}
	fmt.Fprintf(w, "version    %s\n", r.Version)
	fmt.Fprintf(w, "gpu        %s\n", r.CUDA)
	fmt.Fprintf(w, "backend    %s\n\n", r.Backend)
	if r.GPU != nil {
		for _, f := range cudaOpFamilies {
			fmt.Fprintf(w, "  %-45s -> cuda (%s)\n", f.name, f.source)
		}
	} else {
		for _, f := range opFamilies {
			how := r.Backend
			if strings.HasPrefix(f.name, "sgemm_bf16") && r.BF16 != "" {
				how += ", " + r.BF16
			}
			fmt.Fprintf(w, "  %-45s -> %s (%s)\n", f.name, how, f.source)
		}
	}
	if r.Checks == nil {
		return
	}
	fmt.Fprintf(w, "\nself-check against the reference backend:\n")
	for _, k := range r.Checks {
		status := "ok"
		detail := fmt.Sprintf("rel err %.2g (bound %.0g), %v", k.RelErr, k.Bound, time.Duration(k.Seconds*1e9).Round(1000))
		if k.Skipped {
			status, detail = "skip", k.Error
		} else if k.Error != "" {
			status, detail = "FAIL", k.Error
		} else if !k.OK {
			status = "FAIL"
		}
		fmt.Fprintf(w, "  %-4s %-22s %s\n", status, k.Op, detail)
	}
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
