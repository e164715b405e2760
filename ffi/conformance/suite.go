// Package conformance is the test suite every distac backend passes, in the
// style of gonum's blas/testblas: Run(t, be) checks every op of be against
// float64 references, so a backend in any package runs exactly the tests the
// CPU paths run. Outputs sit between NaN guard regions that must keep their
// exact bits, start at unaligned offsets and are poisoned with NaN before each
// op; inputs run at odd and tiny sizes; relative errors are bounded per op
// (fp32 ~1e-5), and NaN never passes. Bad arguments must fail before
// anything is written.
//
// Backends and ForEachBackend give the one list of backends every test of
// the module runs on: the reference backend and each CPU path this machine
// and build run, the rest skipped with the reason.
package conformance

import (
	"testing"

	"github.com/distac/distac/ffi"
)

// opTest is one op family's test on one backend.
type opTest struct {
	name    string
	fn      func(t *testing.T, be ffi.Backend)
	trainer bool // needs the training ops (ffi.Trainer)
}

// tests is the suite, in the order of the C ABI's headers.
var tests = []opTest{
	{"ViewChecks", testViewChecks, false},
	{"GuardsCatchOverrun", testGuardsCatchOverrun, false},
	{"HostView", testHostView, false},

	{"Gemm", testGemm, false},
	{"GemmDegenerate", testGemmDegenerate, false},
	{"GemmStridedBatched", testGemmStridedBatched, false},
	{"GemmErrors", testGemmErrors, false},

	{"KLDistill", testKLDistill, false},
	{"KLDistillIdentical", testKLDistillIdentical, false},
	{"KLDistillNonFinite", testKLDistillNonFinite, false},
	{"KLDistillInvalid", testKLDistillInvalid, false},
	{"KLDistillThreads", testKLDistillThreads, false},
	{"KLDistillFiniteDifference", testKLDistillFiniteDifference, false},
	{"CrossEntropyLS", testCrossEntropyLS, false},
	{"CrossEntropyLSNonFinite", testCrossEntropyLSNonFinite, false},
	{"CrossEntropyLSInvalid", testCrossEntropyLSInvalid, false},

	{"ConvertExhaustive", testConvertExhaustive, false},
	{"ConvertSizes", testConvertSizes, false},
	{"ConvertErrors", testConvertErrors, false},
	{"Sub", testSub, false},
	{"SubErrors", testSubErrors, false},
	{"SumSq", testSumSq, false},
	{"SumSqThreads", testSumSqThreads, false},
	{"SumSqErrors", testSumSqErrors, false},
	{"Scale", testScale, false},
	{"Axpy", testAxpy, false},
	{"ScaleAxpyErrors", testScaleAxpyErrors, false},
	{"WeightedSum", testWeightedSum, false},
	{"WeightedSumErrors", testWeightedSumErrors, false},
	{"SubAccumulate", testSubAccumulate, false},
	{"SubAccumulateErrors", testSubAccumulateErrors, false},
	{"Zero", testZero, false},

	{"AbsHistogram", testAbsHistogram, false},
	{"AbsWindow", testAbsWindow, false},
	{"AbsWindowAdds", testAbsWindowAdds, false},
	{"AbsWindowBadArgs", testAbsWindowBadArgs, false},
	{"TiesTrim", testTiesTrim, false},
	{"TiesMerge", testTiesMerge, false},
	{"TiesMergeCrafted", testTiesMergeCrafted, false},
	{"TiesTallLarge", testTiesTallLarge, false},
	{"TallConsensus", testTallConsensus, false},
	{"TallConsensusNoOutputs", testTallConsensusNoOutputs, false},
	{"TiesBadArgs", testTiesBadArgs, false},
	{"DareDrop", testDareDrop, false},

	{"GemmBF16", testGemmBF16, true},
	{"GemmBF16Rounds", testGemmBF16Rounds, true},
	{"GemmBF16Errors", testGemmBF16Errors, true},
	{"LayerNorm", testTrainLayerNorm, true},
	{"GELU", testTrainGELU, true},
	{"GELUSweep", testTrainGELUSweep, true},
	{"Softmax", testTrainSoftmax, true},
	{"Bias", testTrainBias, true},
	{"Adam", testTrainAdam, true},
	{"TrainErrors", testTrainErrors, true},
	{"AccumulatorsThreads", testTrainAccumulatorsThreads, true},
	{"TrainFiniteDifferences", testTrainFiniteDifferences, true},
	{"Attention", testTrainAttention, true},
	{"AttentionThreads", testTrainAttentionThreads, true},
	{"AttentionFiniteDifferences", testTrainAttentionFiniteDifferences, true},
	{"AttentionErrors", testTrainAttentionErrors, true},
	{"L2Norm", testTrainL2Norm, true},
	{"L2NormFiniteDifferences", testTrainL2NormFiniteDifferences, true},
	{"L2NormErrors", testTrainL2NormZeroErrors, true},
}

// Run runs the whole suite on be, one subtest per op test. The training
// ops' tests are skipped, with the reason, when be is not an ffi.Trainer;
// the thread-count tests when be has no thread count (see WithThreads).
func Run(t *testing.T, be ffi.Backend) {
	t.Helper()
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := be.(ffi.Trainer); c.trainer && !ok {
				t.Skipf("backend %s has no training ops (ffi.Trainer)", be.Name())
			}
			c.fn(t, be)
		})
	}
}

// engine is a backend with the training ops.
type engine interface {
	ffi.Backend
	ffi.Trainer
}

// trainer returns be with its training ops; Run skips the tests that need
// them on a backend without.
func trainer(t *testing.T, be ffi.Backend) engine {
	t.Helper()
	e, ok := be.(engine)
	if !ok {
		t.Skipf("backend %s has no training ops (ffi.Trainer)", be.Name())
	}
	return e
}

// threaded is a backend whose op calls can be given a thread count.
type threaded interface {
	WithThreads(threads int) (ffi.Backend, error)
}

// withThreads returns be with the given thread count, or skips the test
// when be has none to set.
func withThreads(t *testing.T, be ffi.Backend, threads int) ffi.Backend {
	t.Helper()
	tb, ok := be.(threaded)
	if !ok {
		t.Skipf("backend %s has no thread count to vary", be.Name())
	}
	b, err := tb.WithThreads(threads)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
