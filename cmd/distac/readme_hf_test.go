package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/distac/distac/internal/testutil"
)

// readmeBlock is the fenced block after the marker <!-- name --> in the
// README.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(name) + " -->\n```[a-z]*\n(.*?)```")
	m := re.FindStringSubmatch(testutil.Readme(t))
	if m == nil {
		t.Fatalf("README has no block %q", name)
	}
	return m[1]
}

// The README's Hugging Face worked example, line by line, on small
// synthetic sets in place of MNIST and Fashion-MNIST and with few steps:
// every output is a folder of transformers' names with its config files.
func TestReadmeHFExample(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "vit-mnist.json", readmeBlock(t, "hf-example: config"))
	sets := map[string]string{
		"mnist":        writeSet(t, dir, "mnist-train.safetensors", synthSet(64, 4, 1, 28, 28, 11, 1)),
		"mnist:test":   writeSet(t, dir, "mnist-test.safetensors", synthSet(32, 4, 1, 28, 28, 11, 2)),
		"fashion":      writeSet(t, dir, "fashion-train.safetensors", synthSet(64, 4, 1, 28, 28, 22, 3)),
		"fashion:test": writeSet(t, dir, "fashion-test.safetensors", synthSet(32, 4, 1, 28, 28, 22, 4)),
	}
	text := strings.ReplaceAll(readmeBlock(t, "hf-example: commands"), "\\\n", " ")
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		args := strings.Fields(line)
		if args[0] == "mkdir" {
			if err := os.MkdirAll(args[len(args)-1], 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if args[0] != "distac" {
			t.Fatalf("README line %q: not a distac command", line)
		}
		for i := 1; i+1 < len(args); i++ {
			switch args[i] {
			case "--data", "--eval", "--calibrate":
				if s, ok := sets[args[i+1]]; ok {
					args[i+1] = s
				}
			case "--steps":
				args[i+1] = "3"
			case "--warmup":
				args[i+1] = "1"
			}
		}
		args = append(args, "--quiet")
		if args[1] == "init" || args[1] == "head" {
			args = args[:len(args)-1] // nothing to quieten
		}
		cmd, ok := commands[args[1]]
		if !ok {
			t.Fatalf("README line %q: no command %s", line, args[1])
		}
		mustRun(t, cmd.run, args[2:]...)
	}
	for _, folder := range []string{"base-hf", "mnist-hf", "conditioned-hf/fashion-hf.distac", "merged-hf"} {
		got := listDir(t, folder)
		want := []string{"config.json", "model.safetensors", "preprocessor_config.json"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s holds %v, want %v", folder, got, want)
		}
		ck := testutil.Open(t, folder)
		if tn, ok := ck.Tensor("vision_model.encoder.layers.3.self_attn.k_proj.weight"); !ok || tn.Shape[0] != 64 || tn.Shape[1] != 64 {
			t.Errorf("%s: no transformers-named k_proj of 64 x 64", folder)
		}
		if _, ok := ck.Tensor("visual_projection.weight"); !ok || ck.Files[0].Metadata["format"] != "pt" {
			t.Errorf("%s: no visual_projection.weight, or no format pt", folder)
		}
	}
	base, _ := os.ReadFile("base-hf/config.json")
	merged, _ := os.ReadFile("merged-hf/config.json")
	if string(base) != string(merged) || !strings.Contains(string(base), `"model_type": "clip_vision_model"`) {
		t.Errorf("merged config.json is not the base's:\n%s\n%s", merged, base)
	}
}
