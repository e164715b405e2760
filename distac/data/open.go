package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SpecHelp says what Open takes, for a command's help.
const SpecHelp = `a built-in set (mnist, fashion, opencv-digits, sklearn-digits: its train part; NAME:test for the test part),
a folder of images (DIR/<class>/*.png|jpg), a .safetensors of "images" and "labels" (ReadTensors)
or IDX images (FILE-images-idx3-ubyte[.gz], with the labels beside it as -labels-idx1-ubyte)`

// OpenOptions say how Open reads a set.
type OpenOptions struct {
	// Folder is how an image folder is read (Size and Channels are needed
	// for one; Mean and Std are better left to the model's preprocessing).
	Folder Preprocess
	// Builtin is passed to Load for a built-in set.
	Builtin LoadOptions
}

// Open reads the set spec names (see SpecHelp): a built-in set (NAME,
// NAME:train or NAME:test), an image folder, a .safetensors file of tensors
// or an IDX images file.
func Open(spec string, o OpenOptions) (*Set, error) {
	name, part, _ := strings.Cut(spec, ":")
	if _, ok := builtins[name]; ok {
		train, test, err := Load(name, o.Builtin)
		if err != nil {
			return nil, err
		}
		switch part {
		case "", "train":
			return train, nil
		case "test":
			return test, nil
		}
		return nil, fmt.Errorf("%s: unknown part %q (want train or test)", spec, part)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("data %q is neither a built-in set (%s) nor a file: %w", spec, strings.Join(Names(), ", "), err)
	}
	switch {
	case st.IsDir():
		return ReadImageFolder(spec, o.Folder)
	case strings.HasSuffix(spec, ".safetensors"):
		return ReadTensors(spec)
	case strings.Contains(filepath.Base(spec), "images-idx3"):
		labels := strings.Replace(spec, "images-idx3", "labels-idx1", 1)
		if _, err := os.Stat(labels); err != nil {
			labels = ""
		}
		return ReadIDX(spec, labels)
	}
	return nil, fmt.Errorf("data %s: not a directory, .safetensors or *-images-idx3-ubyte file", spec)
}
