package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// resolveOut is the file an output named out is written to: DIR stands for
// DIR/model.safetensors, and a symbolic link for what it points to (so
// --force replaces the model, not the link).
func resolveOut(out string) (string, error) {
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		out = filepath.Join(out, "model.safetensors")
	}
	if st, err := os.Lstat(out); err == nil && st.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(out)
		if err != nil { // a dangling link: write where it points
			link, rerr := os.Readlink(out)
			if rerr != nil {
				return "", fmt.Errorf("output %s: %w", out, rerr)
			}
			if !filepath.IsAbs(link) {
				link = filepath.Join(filepath.Dir(out), link)
			}
			return link, nil
		}
		return target, nil
	}
	return out, nil
}

// CheckOutputs is CheckOutput for each of outs, and refuses two outputs
// that are one file: the checks a command with several outputs runs before
// any long work.
func CheckOutputs(outs []string, force bool, inputs []string) error {
	seen := map[string]string{}
	for _, o := range outs {
		abs, err := filepath.Abs(o)
		if err != nil {
			return fmt.Errorf("output %s: %w", o, err)
		}
		if prev, dup := seen[abs]; dup && prev == o {
			return fmt.Errorf("output %s is given twice", o)
		} else if dup {
			return fmt.Errorf("outputs %s and %s are one file", prev, o)
		}
		seen[abs] = o
		if err := CheckOutput(o, force, inputs); err != nil {
			return err
		}
	}
	return nil
}

// CheckOutput is Create's check of an unsharded checkpoint output, for
// commands to run before long work: out's directory exists, out is not a
// directory (a directory stands for DIR/model.safetensors), never one of
// inputs (even with force), replaces an existing file only with force, and
// is not named .json (an index is written beside the shards of a sharded
// output, never named: a .json file would not reopen as a model).
func CheckOutput(out string, force bool, inputs []string) error {
	if _, isNew := folderOut(out); isNew { // a folder Create makes
		return checkDir(filepath.Dir(filepath.Clean(out)))
	}
	if err := checkOutputFile(out, force, inputs); err != nil {
		return err
	}
	return checkModelName(out)
}

// checkModelName refuses a .json name for a checkpoint.
func checkModelName(out string) error {
	if strings.HasSuffix(strings.ToLower(out), ".json") {
		return fmt.Errorf("output %s: name the .safetensors file to write; a sharded output's index is written beside its shards", out)
	}
	return nil
}

// checkOutputFile is CheckOutput for any output file.
func checkOutputFile(out string, force bool, inputs []string) error {
	out, err := resolveOut(out)
	if err != nil {
		return err
	}
	if err := checkDir(filepath.Dir(out)); err != nil {
		return err
	}
	return checkOutputPath(out, force, inputs)
}

// missingDir is the error for an output directory that does not exist; it
// is an fs.ErrNotExist.
type missingDir string

func (d missingDir) Error() string { return "output directory " + string(d) + " does not exist" }
func (d missingDir) Unwrap() error { return fs.ErrNotExist }

func checkDir(dir string) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return missingDir(dir)
	}
	return nil
}

// checkOutputPath refuses to overwrite an input, and an existing file
// without force.
func checkOutputPath(p string, force bool, inputs []string) error {
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", p, err)
	}
	for _, in := range inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
			return fmt.Errorf("output %s is an input (%s); refusing to overwrite it", p, in)
		}
	}
	if st.IsDir() {
		return fmt.Errorf("output %s is a directory", p)
	}
	if !force {
		return fmt.Errorf("output %s %w", p, ErrExists)
	}
	return nil
}

// previousOutputs lists the files of an earlier output to the same target
// that the new one will not overwrite: the single file out itself when the
// new output is sharded, the index when it is not, and the shards an
// earlier index names (a re-shard into fewer or other shards). Replacing
// the output removes them, so no stale half of an old model is left beside
// the new one; only files of distac's own naming are ever listed.
func previousOutputs(out string, finals []string) []string {
	dir, base := filepath.Split(out)
	stem := strings.TrimSuffix(base, ".safetensors")
	index := filepath.Join(dir, stem+".safetensors.index.json")
	keep := map[string]bool{}
	for _, f := range finals {
		keep[f] = true
	}
	var old []string
	add := func(p string) {
		if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && !keep[p] {
			old = append(old, p)
		}
	}
	add(out)
	add(index)
	if b, err := os.ReadFile(index); err == nil {
		if idx, err := parseIndex(b); err == nil {
			for _, s := range idx.shards {
				if strings.HasPrefix(s, stem+"-") && strings.HasSuffix(s, ".safetensors") {
					add(filepath.Join(dir, s))
				}
			}
		}
	}
	return old
}

// indexJSON is the index file of a sharded output.
func indexJSON(meta map[string]any, weightMap map[string]string) ([]byte, error) {
	js, err := json.MarshalIndent(map[string]any{"metadata": meta, "weight_map": weightMap}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(js, '\n'), nil
}
