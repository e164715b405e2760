package checkpoint

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// HFShardSize is the shard size of a folder output when none is given:
// transformers' save_pretrained default max_shard_size, "5GB" (decimal).
const HFShardSize = 5_000_000_000

// SideFileNames are the files of a model folder besides its weights that a
// folder output copies from its input: what transformers reads beside them.
var SideFileNames = []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
	"special_tokens_map.json", "vocab.json", "merges.txt", "preprocessor_config.json"}

// folderOut says whether out names a folder output (a model folder as
// transformers writes it: DIR/model.safetensors, or shards
// DIR/model-0000i-of-0000N.safetensors with DIR/model.safetensors.index.json):
// an existing directory, or a path that does not exist and ends neither in
// .safetensors nor .json. isNew says the directory is still to be made.
func folderOut(out string) (isFolder, isNew bool) {
	st, err := os.Stat(out)
	if err == nil {
		return st.IsDir(), false
	}
	if _, lerr := os.Lstat(out); lerr == nil { // a dangling link: a file output
		return false, false
	}
	low := strings.ToLower(out)
	if errors.Is(err, os.ErrNotExist) && !strings.HasSuffix(low, ".safetensors") && !strings.HasSuffix(low, ".json") {
		return true, true
	}
	return false, false
}

// IsFolderOutput reports whether Create writes out as a model folder.
func IsFolderOutput(out string) bool {
	f, _ := folderOut(out)
	return f
}

// FolderOf is the model folder ck was read from: the directory the user
// named, or the one holding the index or model.safetensors named; "" for a
// single file of another name (its directory is not the model's alone).
func FolderOf(ck *Checkpoint) string {
	if ck == nil {
		return ""
	}
	if st, err := os.Stat(ck.Path); err == nil && st.IsDir() {
		return ck.Path
	}
	switch filepath.Base(ck.Path) {
	case IndexName, "model.safetensors":
		return filepath.Dir(ck.Path)
	}
	return ""
}

// SideFiles reads the SideFileNames that model folder dir holds ("" or a
// folder without them: none).
func SideFiles(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	if dir == "" {
		return files, nil
	}
	for _, name := range SideFileNames {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	return files, nil
}

// extraFile is a file of a folder output besides the weights, written to
// a temporary and moved into place on Commit.
type extraFile struct{ tmp, final string }

// Folder is the directory of a folder output ("" for a file output).
func (w *Writer) Folder() string { return w.folder }

// AddFile writes data as the file name of a folder output (config.json,
// tokenizer files), placed with the weights on Commit; an existing file
// is replaced only with force, an input never.
func (w *Writer) AddFile(name string, data []byte) error {
	if w.folder == "" {
		return fmt.Errorf("output: %s goes into a folder output, and this one is a file", name)
	}
	if err := checkShardName(name); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	final := filepath.Join(w.folder, name)
	for _, e := range w.extras {
		if e.final == final {
			return fmt.Errorf("output %s is written twice", final)
		}
	}
	if err := checkOutputPath(final, w.replace, w.inputs); err != nil {
		return err
	}
	tmp, err := writeTemp(final, data)
	if err != nil {
		return err
	}
	w.extras = append(w.extras, extraFile{tmp, final})
	return nil
}

// CopyFiles is AddFile for each of files, in SideFileNames' order first.
func (w *Writer) CopyFiles(files map[string][]byte) error {
	done := map[string]bool{}
	for _, name := range append(slices.Clone(SideFileNames), slices.Sorted(maps.Keys(files))...) {
		if b, ok := files[name]; ok && !done[name] {
			done[name] = true
			if err := w.AddFile(name, b); err != nil {
				return err
			}
		}
	}
	return nil
}
