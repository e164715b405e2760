package model

import (
	"fmt"
	"maps"
	"slices"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// ConfigKey is the __metadata__ key holding the encoder's config JSON in
// checkpoints distac writes; PrefixKey holds the key prefix of its tensors.
// distac merge carries both from the base into the merged model.
const (
	ConfigKey = checkpoint.ModelConfigKey
	PrefixKey = checkpoint.KeyPrefixKey
)

// ConfigOf reads the config a distac checkpoint carries in its metadata.
func ConfigOf(ck *checkpoint.Checkpoint) (*Config, string, error) {
	for _, f := range ck.Files {
		if s, ok := f.Metadata[ConfigKey]; ok {
			c, err := ParseConfig([]byte(s))
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", ck.Path, err)
			}
			return c, f.Metadata[PrefixKey], nil
		}
	}
	return nil, "", fmt.Errorf("%s: no model config in the checkpoint's metadata (give one with --model-config)", ck.Path)
}

func ffiDType(dt safetensors.DType) (ffi.DType, bool) {
	switch dt {
	case safetensors.F32:
		return ffi.F32, true
	case safetensors.F16:
		return ffi.F16, true
	case safetensors.BF16:
		return ffi.BF16, true
	}
	return 0, false
}

// LoadParams reads every parameter of layout from ck (names prefix+name) into
// a new F32 vector on be, converting F16/BF16. Every error names the file
// and the tensor.
func LoadParams(be ffi.Backend, ck *checkpoint.Checkpoint, layout *Layout, prefix string) (*Params, error) {
	return LoadNamed(be, ck, layout, Naming{Prefix: prefix})
}

// LoadNamed is LoadParams for a checkpoint of any naming.
func LoadNamed(be ffi.Backend, ck *checkpoint.Checkpoint, layout *Layout, n Naming) (*Params, error) {
	p, err := NewParams(be, layout)
	if err != nil {
		return nil, err
	}
	for _, s := range layout.Specs {
		parts, err := n.Parts(s)
		if err == nil {
			for _, part := range parts {
				if err = loadPart(be, ck, p, s, part); err != nil {
					break
				}
			}
		}
		if err != nil {
			p.Free(be)
			return nil, err
		}
	}
	return p, nil
}

func loadPart(be ffi.Backend, ck *checkpoint.Checkpoint, p *Params, s ParamSpec, part Part) error {
	name := part.Name
	t, ok := ck.Tensor(name)
	if !ok {
		return fmt.Errorf("%s: tensor %s is missing", ck.Path, name)
	}
	if !sameShape(t.Shape, part.Shape) {
		return fmt.Errorf("%s: tensor %s has shape %v, the model config wants %v", t.Path(), name, t.Shape, part.Shape)
	}
	dt, ok := ffiDType(t.DType)
	if !ok {
		return fmt.Errorf("%s: tensor %s has dtype %s, want F32, F16 or BF16", t.Path(), name, t.DType)
	}
	n := part.N()
	dst := ffi.Vec{Buf: p.Buf, Off: s.Off + part.Off, N: n}
	if part.Transpose { // on the host: a projection is small
		var xs []float32
		err := t.View(0, n, func(b []byte) (err error) { xs, err = checkpoint.DecodeFloats(t.DType, b); return err })
		if err == nil {
			err = be.Upload(dst, ffi.F32Bytes(transpose(xs, part.Shape[0], part.Shape[1])))
		}
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %w", t.Path(), name, err)
		}
		return nil
	}
	if dt == ffi.F32 {
		if err := t.View(0, n, func(b []byte) error { return be.Upload(dst, b) }); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", t.Path(), name, err)
		}
		return nil
	}
	tmp, err := be.Alloc(dt, n)
	if err != nil {
		return fmt.Errorf("%s: tensor %s: %w", t.Path(), name, err)
	}
	defer be.Free(tmp)
	if err := t.View(0, n, func(b []byte) error { return be.Upload(ffi.All(tmp), b) }); err != nil {
		return fmt.Errorf("%s: tensor %s: %w", t.Path(), name, err)
	}
	if err := be.Convert(dst, ffi.All(tmp)); err != nil {
		return fmt.Errorf("%s: tensor %s: %w", t.Path(), name, err)
	}
	return nil
}

// transpose returns the cols x rows transpose of the row-major rows x cols x.
func transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = x[r*cols+c]
		}
	}
	return out
}

func sameShape(a []uint64, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != uint64(b[i]) {
			return false
		}
	}
	return true
}

// SaveOptions says how SaveParams writes a checkpoint.
type SaveOptions struct {
	Prefix string // key prefix of the encoder's tensors
	// Naming is the tensors' naming: NamingOpenCLIP ("") or NamingHF
	// (transformers' names, and "format": "pt" in the metadata, which
	// transformers' loader requires of a safetensors file with metadata).
	Naming string
	// DType is the encoder tensors' output dtype: "f32", "f16", "bf16", or ""
	// for Like's dtype of each tensor (F32 without Like).
	DType string
	// Like, when set, is a checkpoint whose tensors are all carried over: the
	// encoder's take the new values, every other tensor (a text tower,
	// integer buffers) is copied unchanged.
	Like   *checkpoint.Checkpoint
	Meta   map[string]string // extra __metadata__ entries
	Force  bool              // replace an existing output
	Inputs []string          // files that must never be replaced
}

// ownPart is one output tensor of the encoder: part of parameter spec.
type ownPart struct {
	spec ParamSpec
	part Part
}

// SaveParams writes p as a safetensors checkpoint at out, atomically (a
// temporary file beside it, fsynced, renamed into place), with the config
// and prefix in its metadata so it can be loaded without a config file.
func SaveParams(be ffi.Backend, cfg *Config, p *Params, out string, o SaveOptions) error {
	naming := Naming{Kind: o.Naming, Prefix: o.Prefix}
	meta := map[string]string{ConfigKey: cfg.JSON(), PrefixKey: o.Prefix}
	if naming.IsHF() {
		meta["format"] = "pt"
	}
	maps.Copy(meta, o.Meta)
	var tensors []checkpoint.OutTensor
	var carried []*checkpoint.Tensor // tensors copied from Like, by output index
	own := map[string]ownPart{}
	var order []string // own tensors in layout order
	for _, s := range p.Layout.Specs {
		parts, err := naming.Parts(s)
		if err != nil {
			return fmt.Errorf("save %s: %w", out, err)
		}
		for _, part := range parts {
			own[part.Name] = ownPart{s, part}
			order = append(order, part.Name)
		}
	}
	forced, keep, err := checkpoint.ParseOutDType(o.DType)
	if err != nil {
		return fmt.Errorf("save %s: %w", out, err)
	}
	outType := func(src safetensors.DType) safetensors.DType {
		if keep {
			return src
		}
		return forced
	}
	if o.Like != nil {
		for _, t := range o.Like.Tensors {
			dt := t.DType
			if _, ok := own[t.Name]; ok {
				dt = outType(t.DType)
			}
			tensors = append(tensors, checkpoint.OutTensor{Name: t.Name, DType: dt, Shape: t.Shape})
			carried = append(carried, t)
		}
		for _, name := range slices.Sorted(maps.Keys(own)) {
			if _, ok := o.Like.Tensor(name); !ok {
				return fmt.Errorf("save %s: %s has no tensor %s", out, o.Like.Path, name)
			}
		}
	} else {
		for _, name := range order {
			tensors = append(tensors, checkpoint.OutTensor{Name: name, DType: outType(safetensors.F32), Shape: u64(own[name].part.Shape)})
			carried = append(carried, nil)
		}
	}
	w, err := checkpoint.Create(out, tensors, meta, 0, o.Force, o.Inputs)
	if err != nil {
		return fmt.Errorf("save %s: %w", out, err)
	}
	if w.Folder() != "" {
		if err := addFolderFiles(w, cfg, naming, o.Like); err != nil {
			w.Abort()
			return fmt.Errorf("save %s: %w", out, err)
		}
	}
	for i, t := range tensors {
		if op, ok := own[t.Name]; ok {
			var data []byte
			if data, err = encodePart(be, p, op.spec, op.part, t.DType); err == nil {
				err = w.WriteAt(i, 0, data)
			}
		} else {
			err = carried[i].View(0, carried[i].Numel, func(b []byte) error { return w.WriteAt(i, 0, b) })
		}
		if err != nil {
			w.Abort()
			return fmt.Errorf("save %s: tensor %s: %w", out, t.Name, err)
		}
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("save %s: %w", out, err)
	}
	return nil
}

// addFolderFiles gives a folder output the non-weight files of the model
// folder Like was read from (config.json, tokenizer, ...), and, in
// transformers' naming, a config.json and preprocessor_config.json made
// from cfg when Like's folder has none, so transformers loads the output.
func addFolderFiles(w *checkpoint.Writer, cfg *Config, n Naming, like *checkpoint.Checkpoint) error {
	files, err := checkpoint.SideFiles(checkpoint.FolderOf(like))
	if err != nil {
		return err
	}
	if n.IsHF() {
		made, err := HFFiles(cfg)
		if err != nil {
			return err
		}
		for name, b := range made {
			if _, ok := files[name]; !ok {
				files[name] = b
			}
		}
	}
	return w.CopyFiles(files)
}

func u64(shape []int) []uint64 {
	out := make([]uint64, len(shape))
	for i, d := range shape {
		out[i] = uint64(d)
	}
	return out
}

// encodePart downloads one part of parameter s and encodes it as dt.
func encodePart(be ffi.Backend, p *Params, s ParamSpec, part Part, dt safetensors.DType) ([]byte, error) {
	fd, ok := ffiDType(dt)
	if !ok {
		return nil, fmt.Errorf("output dtype %s is not a float type", dt)
	}
	if part.Transpose { // on the host, with the same rounding as Convert
		xs := make([]float32, s.N)
		if err := be.Download(ffi.F32Bytes(xs), ffi.Vec{Buf: p.Buf, Off: s.Off, N: s.N}); err != nil {
			return nil, err
		}
		return ffi.EncodeFloats(transpose(xs, s.Shape[0], s.Shape[1]), fd), nil
	}
	src := ffi.Vec{Buf: p.Buf, Off: s.Off + part.Off, N: part.N()}
	if fd == ffi.F32 {
		out := make([]byte, 4*src.N)
		return out, be.Download(out, src)
	}
	tmp, err := be.Alloc(fd, src.N)
	if err != nil {
		return nil, err
	}
	defer be.Free(tmp)
	if err := be.Convert(ffi.All(tmp), src); err != nil {
		return nil, err
	}
	out := make([]byte, 2*src.N)
	return out, be.Download(out, ffi.All(tmp))
}
