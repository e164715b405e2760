package merge

import (
	"fmt"

	"github.com/distac/distac/distac/checkpoint"
)

// copyBaseFiles copies the non-weight files (checkpoint.SideFileNames) of
// the base's model folder, when the base is one, into the folder output w.
func copyBaseFiles(w *checkpoint.Writer, base string) error {
	ck := &checkpoint.Checkpoint{Path: base}
	files, err := checkpoint.SideFiles(checkpoint.FolderOf(ck))
	if err != nil {
		return fmt.Errorf("base %s: %w", base, err)
	}
	return w.CopyFiles(files)
}
