# torch_python.sh — sourced by the compare_*.sh scripts, not run.
# torch_python NAME prints $PYTHON, or else the first of python3,
# /usr/bin/python3 that can import torch; with none it says so as NAME and
# fails.
torch_python() {
  if [[ -n ${PYTHON:-} ]]; then echo "$PYTHON"; return; fi
  local cand
  for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import torch' 2>/dev/null; then echo "$cand"; return; fi
  done
  echo "$1: no python with torch; set PYTHON" >&2
  return 1
}
