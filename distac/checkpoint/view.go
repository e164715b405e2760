package checkpoint

import "fmt"

// Rows is a view of rows [lo, hi) of t's leading dimension: a tensor of
// shape [hi-lo, rest...] over the same mapped bytes (a row-major prefix or
// suffix of t), for merging the rows some models share.
func (t *Tensor) Rows(lo, hi int) (*Tensor, error) {
	if len(t.Shape) == 0 || lo < 0 || hi < lo || uint64(hi) > t.Shape[0] {
		return nil, fmt.Errorf("tensor %q: rows [%d, %d) of shape %v", t.Name, lo, hi, t.Shape)
	}
	row := 1
	if t.Shape[0] > 0 {
		row = t.Numel / int(t.Shape[0])
	}
	v := *t
	v.Shape = append([]uint64{uint64(hi - lo)}, t.Shape[1:]...)
	v.Numel = (hi - lo) * row
	v.begin = t.begin + int64(lo*row)*int64(t.ElemSize())
	return &v, nil
}
