package checkpoint

import (
	"errors"

	"github.com/distac/distac/internal/errmark"
)

// ErrMalformed is wrapped by the error for an input that is not a valid
// checkpoint: a safetensors file whose header or layout is broken, a
// directory without a model, an index that does not agree with its shards,
// tensors in memory that do not fit their shapes. The message is the one
// the error has without it (naming the file and the tensor); errors.Is
// tells a caller that the input, not the machine, is at fault.
var ErrMalformed = errors.New("malformed checkpoint")

// malformed marks err (nil stays nil) as a malformed input.
func malformed(err error) error { return errmark.As(ErrMalformed, err) }
