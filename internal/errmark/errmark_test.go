package errmark

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestAs(t *testing.T) {
	sentinel := errors.New("sentinel")
	inner := fmt.Errorf("f.safetensors: %w", fs.ErrNotExist)
	err := As(sentinel, inner)
	if !errors.Is(err, sentinel) || !errors.Is(err, fs.ErrNotExist) || err.Error() != inner.Error() {
		t.Errorf("As = %v: Is(sentinel) %v, Is(inner) %v", err, errors.Is(err, sentinel), errors.Is(err, fs.ErrNotExist))
	}
	if wrapped := fmt.Errorf("merge: %w", err); !errors.Is(wrapped, sentinel) {
		t.Error("a wrapped mark lost its sentinel")
	}
	if As(sentinel, nil) != nil {
		t.Error("As(nil) is not nil")
	}
	if again := As(sentinel, err); again != err {
		t.Error("marking twice nests")
	}
}

func TestRecovered(t *testing.T) {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = Recovered("on tensor \"w\"", r, []byte("stack"))
			}
		}()
		var m map[string]int
		m["x"] = 1
		return nil
	}()
	if !errors.Is(err, ErrPanic) {
		t.Fatalf("err %v is not ErrPanic", err)
	}
	for _, w := range []string{"internal error", `on tensor "w"`, "nil map", "stack"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q lacks %q", err, w)
		}
	}
}
