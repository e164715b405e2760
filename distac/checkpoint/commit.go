package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// outputMode is the permission of committed outputs: os.CreateTemp makes
// its files 0600, which would hide a model from everyone but its writer.
const outputMode = 0o644

// Commit checks that every tensor was written in full, syncs the files and
// moves them into place (shards first, the index last). Without force a
// final path that exists by then (another run's output) is an error, and
// the shards already placed are taken back. With force the files of an
// earlier output that the new one did not overwrite (old shards) are
// removed once it is in place. On error the temporary files are removed.
func (w *Writer) Commit() error {
	if w.finished {
		return errors.New("output: already finished")
	}
	for i := range w.tensors {
		if got, want := w.written[i].Load(), w.tensors[i].size(); got != want {
			w.Abort()
			return fmt.Errorf("output: tensor %q has %d of %d bytes written", w.tensors[i].Name, got, want)
		}
	}
	for _, sh := range w.shards {
		err := sh.tmp.Chmod(outputMode)
		if err == nil {
			err = sh.tmp.Sync()
		}
		if cerr := sh.tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			w.Abort()
			return fmt.Errorf("output %s: %w", sh.final, err)
		}
	}
	moves := make([][2]string, 0, len(w.shards)+1) // temporary, final
	for _, sh := range w.shards {
		moves = append(moves, [2]string{sh.tmpPath, sh.final})
	}
	for _, e := range w.extras { // a folder's config.json, tokenizer, ...
		moves = append(moves, [2]string{e.tmp, e.final})
	}
	w.extras = nil
	if w.indexPath != "" {
		p, err := w.writeIndexTemp()
		if err != nil {
			w.Abort()
			return err
		}
		moves = append(moves, [2]string{p, w.indexPath})
	}
	placing.RLock()
	defer placing.RUnlock()
	for k, mv := range moves {
		if err := place(mv[0], mv[1], w.replace); err != nil {
			if !w.replace { // what was placed was new: nothing of a failed output stays
				for _, done := range moves[:k] {
					os.Remove(done[1])
				}
			}
			for _, left := range moves[k:] {
				removeTemp(left[0])
			}
			w.finished = true
			if errors.Is(err, ErrExists) {
				return err
			}
			return fmt.Errorf("output %s: %w", mv[1], err)
		}
		forgetTemp(mv[0])
	}
	for _, sh := range w.shards {
		sh.tmpPath = ""
	}
	w.finished = true
	for _, p := range w.previous {
		os.Remove(p)
	}
	return syncDir(filepath.Dir(w.shards[0].final))
}

// writeIndexTemp writes the index of a sharded output into a temporary
// beside it and returns its path.
func (w *Writer) writeIndexTemp() (string, error) {
	weightMap := map[string]string{}
	for i, t := range w.tensors {
		weightMap[t.Name] = filepath.Base(w.shards[w.shardOf[i]].final)
	}
	js, err := indexJSON(w.indexMeta, weightMap)
	if err != nil {
		return "", err
	}
	return writeTemp(w.indexPath, js)
}

// Abort removes the temporary files. Safe to call more than once and after
// a Commit (then it does nothing).
func (w *Writer) Abort() {
	if w.finished {
		return
	}
	for _, sh := range w.shards {
		if sh.tmpPath != "" {
			sh.tmp.Close()
			removeTemp(sh.tmpPath)
			sh.tmpPath = ""
		}
	}
	for _, e := range w.extras {
		removeTemp(e.tmp)
	}
	w.extras = nil
	if w.madeDir {
		os.Remove(w.folder) // only when empty: never what another wrote there
	}
	w.finished = true
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
