package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Outputs are written to temporary files beside their targets, named
// ".NAME.tmp-PID-RANDOM" so that they are recognisable as distac's and carry
// the process that writes them. The temporaries a process has open are
// registered here, so that a signal handler can remove them
// (RemoveTemporaries) before the process dies; a temporary left by a process
// that no longer runs (kill -9, a crash) is removed by the next output to the
// same target.

var temps struct {
	sync.Mutex
	live map[string]bool
}

// placing is held (shared) while outputs are moved into place, so that
// RemoveTemporaries, which holds it exclusively, never runs in the middle of
// a sharded commit: an output is then either wholly placed or not at all.
var placing sync.RWMutex

// createTemp creates the temporary file for final and registers it.
func createTemp(final string) (*os.File, error) {
	removeStaleTemps(final)
	f, err := os.CreateTemp(filepath.Dir(final), tempPrefix(final, os.Getpid())+"*")
	if err != nil {
		return nil, err
	}
	temps.Lock()
	if temps.live == nil {
		temps.live = map[string]bool{}
	}
	temps.live[f.Name()] = true
	temps.Unlock()
	return f, nil
}

// forgetTemp unregisters a temporary that was renamed into place or removed.
func forgetTemp(path string) {
	temps.Lock()
	delete(temps.live, path)
	temps.Unlock()
}

// removeTemp removes and unregisters a temporary.
func removeTemp(path string) {
	os.Remove(path)
	forgetTemp(path)
}

// RemoveTemporaries removes every temporary output file this process has
// open, for a handler of SIGINT, SIGTERM or SIGHUP to call before exiting:
// an interrupted run leaves nothing beside its targets. It returns the paths
// removed.
func RemoveTemporaries() []string {
	placing.Lock() // never released: the process is about to exit
	temps.Lock()
	defer temps.Unlock()
	var out []string
	for p := range temps.live {
		if os.Remove(p) == nil {
			out = append(out, p)
		}
		delete(temps.live, p)
	}
	return out
}

// tempPrefix is the name a temporary for final starts with.
func tempPrefix(final string, pid int) string {
	return "." + filepath.Base(final) + ".tmp-" + strconv.Itoa(pid) + "-"
}

// removeStaleTemps removes the temporaries for final that processes which
// no longer run left behind. Another running process's are left alone (a
// concurrent run into the same target), and so is every other file.
func removeStaleTemps(final string) {
	dir := filepath.Dir(final)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	pre := "." + filepath.Base(final) + ".tmp-"
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, pre)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		os.Remove(filepath.Join(dir, name))
	}
}

// alive reports whether process pid exists (EPERM: it does, as another
// user's).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ErrExists is wrapped by the error for an output that exists when it must
// not (Create without force, and at the final rename: a concurrent run
// cannot silently replace another's output).
var ErrExists = errors.New("already exists (use --force to replace it)")

// place moves a finished temporary to final: with replace, over whatever is
// there; without, only if final does not exist at that moment
// (renameat2 RENAME_NOREPLACE, or a hard link where the file system lacks
// it), so the check before the work still holds at the end.
func place(tmp, final string, replace bool) error {
	if replace {
		return os.Rename(tmp, final)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("output %s %w", final, ErrExists)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.ENOTSUP):
		if err := os.Link(tmp, final); err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("output %s %w", final, ErrExists)
			}
			return err
		}
		return os.Remove(tmp)
	}
	return err
}

// WriteFileAtomic writes data to path as every output is written: into a
// registered temporary beside it, synced, mode 0644, then moved into place
// (over an existing file only with force; never over one of inputs).
func WriteFileAtomic(path string, data []byte, force bool, inputs []string) error {
	if err := checkOutputFile(path, force, inputs); err != nil {
		return err
	}
	path, _ = resolveOut(path)
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	placing.RLock()
	err = place(tmp, path, force)
	placing.RUnlock()
	if err != nil {
		removeTemp(tmp)
		if errors.Is(err, ErrExists) {
			return err
		}
		return fmt.Errorf("output %s: %w", path, err)
	}
	forgetTemp(tmp)
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data into a registered temporary beside final, synced,
// mode 0644, and returns its path; on an error nothing is left.
func writeTemp(final string, data []byte) (string, error) {
	f, err := createTemp(final)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", final, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(outputMode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		removeTemp(f.Name())
		return "", fmt.Errorf("output %s: %w", final, err)
	}
	return f.Name(), nil
}

// reserve allocates the size bytes of a new output file up front
// (fallocate): a disk without room for the output fails now, before any
// work, instead of at a write near the end; on tmpfs the pages come in one
// call instead of one fault per write. File systems without fallocate
// (EOPNOTSUPP) keep the sparse file.
func reserve(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	switch {
	case err == nil, errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINTR):
		return nil
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Errorf("no room for its %d bytes: %w", size, err)
	}
	return fmt.Errorf("reserving %d bytes: %w", size, err)
}
