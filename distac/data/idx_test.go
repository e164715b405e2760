package data

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestIDXRoundTrip: images and labels written by the test come back scaled
// by 1/255, with the geometry and class count of the files, plain or gzip.
func TestIDXRoundTrip(t *testing.T) {
	const n, h, w = 5, 3, 4
	pix := make([]byte, n*h*w)
	for i := range pix {
		pix[i] = byte(i * 37)
	}
	labels := []byte{0, 3, 1, 3, 2}
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		ib := idxBytes(0x803, []uint32{n, h, w}, pix)
		lb := idxBytes(0x801, []uint32{n}, labels)
		if gz {
			ib, lb = gzipBytes(t, ib), gzipBytes(t, lb)
		}
		ip, lp := filepath.Join(dir, "img"), filepath.Join(dir, "lab") // no .gz: detection is by content
		writeFile(t, ip, ib)
		writeFile(t, lp, lb)
		s, err := ReadIDX(ip, lp)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		if s.Len() != n || s.C != 1 || s.H != h || s.W != w || s.Classes != 4 {
			t.Fatalf("gzip=%v: got N=%d %dx%dx%d classes %d", gz, s.Len(), s.C, s.H, s.W, s.Classes)
		}
		for i, v := range s.Images {
			if want := float32(pix[i]) / 255; v != want {
				t.Fatalf("gzip=%v: value %d = %v, want %v", gz, i, v, want)
			}
		}
		for i, l := range s.Labels {
			if l != int32(labels[i]) {
				t.Fatalf("gzip=%v: label %d = %d, want %d", gz, i, l, labels[i])
			}
		}
		u, err := ReadIDX(ip, "")
		if err != nil || u.Labels != nil || u.Len() != n {
			t.Fatalf("gzip=%v: unlabelled read: %v, labels %v, len %d", gz, err, u.Labels, u.Len())
		}
	}
}

// TestIDXMalformed: every malformed file is rejected with an error naming it.
func TestIDXMalformed(t *testing.T) {
	pix := make([]byte, 2*2*2)
	good := idxBytes(0x803, []uint32{2, 2, 2}, pix)
	goodLabels := idxBytes(0x801, []uint32{2}, []byte{0, 1})
	cases := []struct {
		name          string
		images, label []byte
		badFile       string // "images" or "labels": which file the error must name
		msg           string
	}{
		{"bad image magic", idxBytes(0x804, []uint32{2, 2, 2}, pix), goodLabels, "images", "bad magic"},
		{"labels as images", goodLabels, goodLabels, "images", "idx1 ubyte labels file"},
		{"bad label magic", good, idxBytes(0x803, []uint32{2}, []byte{0, 1}), "labels", "bad magic"},
		{"not IDX", []byte("PK\x03\x04 zip file, not idx"), goodLabels, "images", "bad magic"},
		{"short header", good[:10], goodLabels, "images", "truncated"},
		{"empty file", nil, goodLabels, "images", "truncated"},
		{"short images", good[:len(good)-1], goodLabels, "images", "truncated"},
		{"trailing bytes", append(append([]byte(nil), good...), 9), goodLabels, "images", "trailing"},
		{"short labels", good, goodLabels[:len(goodLabels)-1], "labels", "truncated"},
		{"count mismatch", good, idxBytes(0x801, []uint32{3}, []byte{0, 1, 2}), "labels", "3 labels"},
		{"dims too big", idxBytes(0x803, []uint32{1, 1 << 20, 1 << 20}, nil), goodLabels, "images", "too big"},
		{"count too big", idxBytes(0x803, []uint32{1 << 30, 28, 28}, nil), goodLabels, "images", "too big"},
		{"zero width", idxBytes(0x803, []uint32{2, 2, 0}, nil), goodLabels, "images", "2x0"},
		// No data, so within the payload limit, but 2^32 values per image:
		// past what any other reader (and Validate) accepts.
		{"image too big", idxBytes(0x803, []uint32{0, 1 << 16, 1 << 16}, nil), idxBytes(0x801, []uint32{0}, nil), "images", "past the limit"},
	}
	for _, c := range cases {
		for _, gz := range []bool{false, true} {
			dir := t.TempDir()
			ip, lp := filepath.Join(dir, "train-images"), filepath.Join(dir, "train-labels")
			ib, lb := c.images, c.label
			if gz {
				ib, lb = gzipBytes(t, ib), gzipBytes(t, lb)
			}
			writeFile(t, ip, ib)
			writeFile(t, lp, lb)
			_, err := ReadIDX(ip, lp)
			named := ip
			if c.badFile == "labels" {
				named = lp
			}
			t.Run(c.name, func(t *testing.T) { wantErr(t, err, named, c.msg) })
		}
	}
	// A corrupt gzip stream (bad CRC) and a missing file are named too.
	dir := t.TempDir()
	z := gzipBytes(t, good)
	z[len(z)-6] ^= 0xff // inside the CRC-32 trailer
	p := filepath.Join(dir, "crc.gz")
	writeFile(t, p, z)
	_, err := ReadIDX(p, "")
	wantErr(t, err, p)
	missing := filepath.Join(dir, "nope")
	_, err = ReadIDX(missing, "")
	wantErr(t, err, missing)
}

// FuzzDecodeIDX: arbitrary bytes never panic the IDX decoder, and what it
// accepts has exactly the payload its header promises.
func FuzzDecodeIDX(f *testing.F) {
	f.Add(idxBytes(0x803, []uint32{2, 2, 2}, make([]byte, 8)))
	f.Add(idxBytes(0x803, []uint32{1 << 30, 1 << 16, 1 << 16}, nil))
	f.Add([]byte{0, 0, 8, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		dims, payload, err := decodeIDX(bytes.NewReader(b), 3)
		if err != nil {
			return
		}
		if want := dims[0] * dims[1] * dims[2]; len(payload) != want || len(b) != 16+want {
			t.Fatalf("dims %v: payload %d bytes of %d-byte input", dims, len(payload), len(b))
		}
	})
}
