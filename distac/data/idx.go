package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// IDX limits: a header asking for more is rejected before anything is
// allocated, so a corrupt or hostile file cannot make the reader allocate
// gigabytes.
const (
	maxIDXDim    = 1 << 16 // per image dimension
	maxIDXValues = 1 << 31 // bytes of payload (one per value)
)

// ReadIDX reads MNIST-style IDX files: imagesPath an idx3-ubyte file of N
// images of H x W bytes (magic 0x00000803), labelsPath an idx1-ubyte file of
// N labels (magic 0x00000801), or "" for an unlabelled set. Either file may
// be gzip-compressed (detected by its magic bytes, not its name). Pixels are
// scaled to [0, 1] (v/255); the set has C = 1 and Classes = max label + 1.
// Every error names the file it is about.
func ReadIDX(imagesPath, labelsPath string) (*Set, error) {
	dims, pix, err := readIDXFile(imagesPath, 3)
	if err != nil {
		return nil, err
	}
	// The per-dimension limit keeps the header's sizes from overflowing,
	// but with N = 0 there is no payload to bound their product: check it
	// as every reader does.
	if _, err := imageValues(1, uint64(dims[1]), uint64(dims[2])); err != nil {
		return nil, fmt.Errorf("idx %s: images of %dx%d pixels: %w", imagesPath, dims[1], dims[2], err)
	}
	s := &Set{Name: filepath.Base(imagesPath), C: 1, H: dims[1], W: dims[2], Images: bytesToUnit(pix)}
	if labelsPath == "" {
		return s, nil
	}
	ldims, lab, err := readIDXFile(labelsPath, 1)
	if err != nil {
		return nil, err
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("idx %s has %d labels but %s has %d images", labelsPath, ldims[0], imagesPath, dims[0])
	}
	s.Labels = make([]int32, len(lab))
	for i, l := range lab {
		s.Labels[i] = int32(l)
		s.Classes = max(s.Classes, int(l)+1)
	}
	return s, nil
}

// bytesToUnit maps bytes to float32 in [0, 1].
func bytesToUnit(b []byte) []float32 {
	out := make([]float32, len(b))
	for i, v := range b {
		out[i] = float32(v) / 255
	}
	return out
}

// readIDXFile opens path (plain or gzip) and decodes an unsigned-byte IDX
// array of ndims dimensions.
func readIDXFile(path string, ndims int) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return nil, nil, fmt.Errorf("idx %s: %w", path, err)
	}
	dims, payload, err := decodeIDX(r, ndims)
	if err != nil {
		return nil, nil, fmt.Errorf("idx %s: %w", path, err)
	}
	return dims, payload, nil
}

// maybeGunzip returns a reader over f's contents, decompressed when f starts
// with the gzip magic.
func maybeGunzip(f io.Reader) (io.Reader, error) {
	br := bufio.NewReader(f)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if bytes.Equal(head, []byte{0x1f, 0x8b}) {
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return z, nil
	}
	return br, nil
}

// idxKind names the two IDX files the reader knows, for error messages.
func idxKind(ndims int) string {
	if ndims == 1 {
		return "idx1 ubyte labels"
	}
	return fmt.Sprintf("idx%d ubyte images", ndims)
}

// decodeIDX reads an IDX array of unsigned bytes with ndims dimensions from
// r: the magic 0x0000 0x08 ndims, ndims big-endian uint32 sizes, then the
// bytes, exactly as many as the sizes multiply to.
func decodeIDX(r io.Reader, ndims int) ([]int, []byte, error) {
	// The magic first, so a file of the wrong kind is named as such even
	// when it is shorter than the header it was mistaken for.
	hdr := make([]byte, 4+4*ndims)
	if n, err := io.ReadFull(r, hdr[:4]); err != nil {
		return nil, nil, headerErr(n, ndims, err)
	}
	want := uint32(0x0800 | ndims)
	if magic := binary.BigEndian.Uint32(hdr); magic != want {
		hint := ""
		switch {
		case magic == 0x0801 || magic == 0x0803:
			hint = fmt.Sprintf(" (this is an %s file)", idxKind(int(magic&0xff)))
		case magic>>8 == 0x08:
			hint = fmt.Sprintf(" (%d dimensions)", magic&0xff)
		case magic>>8 != 0:
			hint = " (not IDX unsigned bytes)"
		}
		return nil, nil, fmt.Errorf("bad magic 0x%08x, want 0x%08x for %s%s", magic, want, idxKind(ndims), hint)
	}
	if n, err := io.ReadFull(r, hdr[4:]); err != nil {
		return nil, nil, headerErr(4+n, ndims, err)
	}
	dims := make([]int, ndims)
	total := uint64(1)
	for k := range dims {
		d := binary.BigEndian.Uint32(hdr[4+4*k:])
		if k > 0 && d > maxIDXDim {
			return nil, nil, fmt.Errorf("dims %v too big: dimension %d is %d, the limit is %d", hdrDims(hdr, ndims), k, d, maxIDXDim)
		}
		dims[k] = int(d)
		total *= uint64(d) // at most 2^32 * 2^16 * 2^16: no overflow
	}
	if total > maxIDXValues {
		return nil, nil, fmt.Errorf("dims %v too big: %d values, the limit is %d", dims, total, uint64(maxIDXValues))
	}
	need := int64(total)
	// Read at most one byte past the end, growing the buffer as data comes,
	// so a file that claims a huge count but ends early costs only what it
	// holds.
	payload, err := io.ReadAll(io.LimitReader(r, need+1))
	if err != nil {
		return nil, nil, fmt.Errorf("after %d of %d data bytes: %w", len(payload), need, err)
	}
	if int64(len(payload)) != need {
		return nil, nil, fmt.Errorf("%s: header says %v (%d bytes of data), file has %s",
			sizeWord(int64(len(payload)) < need), dims, need, countWord(int64(len(payload)), need))
	}
	return dims, payload, nil
}

// headerErr describes a failure to read an IDX header after n bytes.
func headerErr(n, ndims int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: %d bytes, an %s header has %d", n, idxKind(ndims), 4+4*ndims)
	}
	return err
}

// hdrDims lists the raw sizes of a header, for the too-big message.
func hdrDims(hdr []byte, ndims int) []uint32 {
	d := make([]uint32, ndims)
	for k := range d {
		d[k] = binary.BigEndian.Uint32(hdr[4+4*k:])
	}
	return d
}

func sizeWord(short bool) string {
	if short {
		return "truncated"
	}
	return "trailing bytes"
}

func countWord(got, need int64) string {
	if got > need {
		return "more"
	}
	return fmt.Sprintf("%d", got)
}
