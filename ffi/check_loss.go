package ffi

import (
	"fmt"
	"math"
)

// The shape rules of the loss ops.

// checkKL validates the arguments of KLDistill for any backend.
func checkKL(rows, cols int, zt, zs Mat, tTcr, tStu float32, grad Mat) (access, error) {
	if rows < 1 || cols < 1 {
		return access{}, fmt.Errorf("kl distill: shape %dx%d, want rows and cols >= 1", rows, cols)
	}
	if !(tTcr > 0) || !(tStu > 0) || math.IsInf(float64(tTcr), 0) || math.IsInf(float64(tStu), 0) {
		return access{}, fmt.Errorf("kl distill: temperatures (%v, %v), want finite and > 0", tTcr, tStu)
	}
	if err := checkMat("kl distill teacher logits", zt, rows, cols); err != nil {
		return access{}, err
	}
	if err := checkMat("kl distill student logits", zs, rows, cols); err != nil {
		return access{}, err
	}
	if grad.Buf != nil {
		if err := checkMat("kl distill grad", grad, rows, cols); err != nil {
			return access{}, err
		}
	}
	return access{op: "kl distill", writes: mats(grad), reads: mats(zt, zs)}, nil
}

// checkXent validates the arguments of CrossEntropyLS, labels included.
func checkXent(rows, cols int, z Mat, labels Vec, eps float32, grad Mat) (access, error) {
	if rows < 1 || cols < 1 {
		return access{}, fmt.Errorf("cross-entropy: shape %dx%d, want rows and cols >= 1", rows, cols)
	}
	if !(eps >= 0 && eps <= 1) {
		return access{}, fmt.Errorf("cross-entropy: label smoothing %v, want 0 <= eps <= 1", eps)
	}
	if err := checkMat("cross-entropy logits", z, rows, cols); err != nil {
		return access{}, err
	}
	if err := checkVec("cross-entropy labels", labels, I32); err != nil {
		return access{}, err
	}
	if labels.N != rows {
		return access{}, fmt.Errorf("cross-entropy labels: length %d, want %d (one per row)", labels.N, rows)
	}
	if grad.Buf != nil {
		if err := checkMat("cross-entropy grad", grad, rows, cols); err != nil {
			return access{}, err
		}
	}
	if ls := i32s(labels); ls != nil { // host buffers: name the bad label
		for r, l := range ls {
			if l < 0 || int(l) >= cols {
				return access{}, fmt.Errorf("cross-entropy labels: label[%d] = %d outside [0, %d)", r, l, cols)
			}
		}
	}
	return access{op: "cross-entropy", writes: mats(grad), reads: append(mats(z), labels.Buf)}, nil
}
