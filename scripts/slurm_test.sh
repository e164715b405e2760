#!/usr/bin/env bash
# Runs README.md's scale-out recipe ("Scaling out": a Slurm job array of
# `distac condition`, then `distac merge` after it) on a one-node Slurm that
# this script starts and stops itself: munged, slurmctld and one slurmd on
# localhost, from a generated slurm.conf in a temporary directory. The recipe
# is taken from README.md (the code blocks after the `slurm-recipe:` markers);
# only the task list and the CPUs per task are replaced. Checks:
#   - every job completes, and the merged model is bit for bit that of one
#     `distac condition` of all the tasks followed by the same merge;
#   - an index stopped with SIGTERM (as a preemption stops it) exits 143 and
#     leaves nothing in the output directory; requeued, it gives the output
#     of an uninterrupted run.
# Needs root and the Debian packages slurm-wlm, munge and jq (skipped without
# Slurm or root); takes about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start_time=$SECONDS

skip() { echo "slurm test: skipped: $*"; exit 0; }
export PATH=$PATH:/usr/sbin:/sbin
for b in slurmctld slurmd munged; do
  command -v "$b" >/dev/null || skip "slurm-wlm/munge not installed"
done
[ "$(id -u)" -eq 0 ] || skip "not root (this one-node Slurm runs its daemons and jobs as root)"
for b in sbatch scontrol scancel sinfo munge unmunge jq python3; do
  command -v "$b" >/dev/null || { echo "slurm test: $b not found" >&2; exit 1; }
done

# Nothing of a Slurm this may run under: sbatch takes SBATCH_* as options.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN)_' || true)

tmp=$(mktemp -d /tmp/distac-slurm.XXXXXX)
conf=$tmp/etc/slurm.conf
pids=()
fail() {
  echo "slurm test: FAILED: $*" >&2
  exit 1
}
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ] && [ -d "$tmp/log" ]; then
    for f in "$tmp"/log/*.log; do
      [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
    done
  fi
  if [ ${#pids[@]} -gt 1 ]; then
    SLURM_CONF=$conf timeout 10 scancel --quiet --full --signal=KILL --user=root >/dev/null 2>&1
  fi
  # slurmd, slurmctld, then munged, each by the pid it was started with.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null
    for _ in $(seq 50); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${pids[i]}" 2>/dev/null
    wait "${pids[i]}" 2>/dev/null
  done
  # What the daemons started and outlived them (slurmstepd, a job's
  # processes) carries this test's SLURM_CONF in its environment.
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = $$ ] && continue
    if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf"; then
      kill -9 "$p" 2>/dev/null
    fi
  done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local end=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $end ] || fail "timed out after ${limit} s waiting for $what"
    sleep 0.2
  done
}

# listening PORT: something accepts connections on localhost:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port: a port P such that nothing listens on P or P+1.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! listening "$p" && ! listening $((p + 1)); then
      echo "$p"
      return
    fi
  done
  fail "no free TCP port"
}

echo "slurm test: building distac"
mkdir -p "$tmp/bin"
go build -o "$tmp/bin/distac" ./cmd/distac
export PATH=$tmp/bin:$PATH

# --- munge, with its own key and socket
mkdir -p "$tmp/munge" "$tmp/etc" "$tmp/log" "$tmp/state" "$tmp/spool"
# munged wants every directory above its socket searchable by all.
chmod 755 "$tmp" "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
chmod 600 "$tmp/munge/munge.key"
export SLURM_CONF=$conf
munged --foreground --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/socket" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/seed" >"$tmp/log/munged.log" 2>&1 &
pids+=($!)
wait_for 20 "munged" test -S "$tmp/munge/socket"
munge -S "$tmp/munge/socket" -n | unmunge -S "$tmp/munge/socket" >/dev/null || fail "munge does not work"

# --- slurm.conf: one node, localhost, with this machine's CPUs and memory
port=$(free_port)
node=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
case "$node" in *CPUs=*RealMemory=*) ;; *) fail "slurmd -C printed no node line: $node" ;; esac
cat >"$conf" <<EOF
ClusterName=distactest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again.
AuthInfo=socket=$tmp/munge/socket,cred_expire=10
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
JobRequeue=1
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

echo "slurm test: starting slurmctld and slurmd (port $port)"
slurmctld -D -i -f "$conf" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N localhost -f "$conf" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
node_idle() {
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a daemon exited; see $tmp/log"; done
  [ "$(sinfo -h -n localhost -o %T 2>/dev/null)" = idle ]
}
wait_for 60 "the node to be idle" node_idle

# job_states ID: the state of every job (every array index) of ID.
job_states() { scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# job_done ID: every job of ID has ended; fails the test if one can never
# run (a dependency that cannot be met).
job_done() {
  local s
  s=$(job_states "$1") || return 1
  [ -n "$s" ] || return 1
  if scontrol -o show job "$1" | grep -q 'Reason=DependencyNeverSatisfied'; then
    show_job "$1"
    fail "job $1 can never start (a job it depends on failed)"
  fi
  ! grep -qvxE 'COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE' <<<"$s"
}
# show_job ID: its records and the output files of its jobs.
show_job() {
  scontrol show job "$1" >&2 || true
  for f in $(scontrol -o show job "$1" | grep -o 'StdOut=[^ ]*' | cut -d= -f2 | sort -u); do
    [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
  done
}
# wait_completed SECONDS ID: waits for every job of ID to end and fails
# unless each one COMPLETED.
wait_completed() {
  wait_for "$1" "job $2" job_done "$2"
  if job_states "$2" | grep -qvx COMPLETED; then
    show_job "$2"
    fail "job $2 did not complete: $(job_states "$2" | sort | uniq -c | xargs)"
  fi
}

# recipe NAME: the fenced code block after <!-- slurm-recipe: NAME --> in README.md.
recipe() {
  awk -v m="<!-- slurm-recipe: $1 -->" '
    $0 == m {found = 1; next}
    found == 1 && /^```/ {found = 2; next}
    found == 2 && /^```/ {exit}
    found == 2 {print}' "$repo/README.md"
}
# replace_line FILE REGEX TEXT: the one line of FILE matching REGEX becomes TEXT.
replace_line() {
  local n
  n=$(grep -cE "$2" "$1" || true)
  [ "$n" -eq 1 ] || fail "README.md's recipe ($(basename "$1")) has $n lines matching /$2/, want 1"
  awk -v re="$2" -v text="$3" '$0 ~ re {print text; next} {print}' "$1" >"$1.new"
  mv "$1.new" "$1"
}

# --- three small tasks, made with distac itself: an 8 x 8 MLP, synthetic
# labelled image folders, fine-tuned at different learning rates and step
# counts so that their task vectors differ in length (the target norm, the
# shortest, then shrinks the other two)
tasks=(short medium long)
work=$tmp/work
mkdir -p "$work/ft" "$work/heads" "$work/data"
cd "$work"
echo "slurm test: making the tasks (${tasks[*]})"
python3 - "${tasks[@]}" <<'EOF'
# data/TASK/cK/NNN.png: 4 classes of 8 x 8 gray images, each a fixed random
# pattern of its task plus noise (seeded: the same files every run).
import os, random, struct, sys, zlib

def png(path, side, pixels):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\0" + bytes(pixels[r * side:(r + 1) * side]) for r in range(side))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

side, classes, per = 8, 4, 50
for ti, task in enumerate(sys.argv[1:]):
    rng = random.Random(1000 + ti)
    patterns = [[rng.random() for _ in range(side * side)] for _ in range(classes)]
    for k in range(classes):
        os.makedirs(f"data/{task}/c{k}")
        for i in range(per):
            px = [int(255 * (0.7 * p + 0.3 * rng.random())) for p in patterns[k]]
            png(f"data/{task}/c{k}/{i:03d}.png", side, px)
EOF
cat >mlp.json <<'EOF'
{"embed_dim": 8, "mlp_cfg": {"in_features": 64, "hidden": [16]}, "preprocess_cfg": {"mean": [0.5], "std": [0.25]}}
EOF
distac init --model-config mlp.json --seed 1 --out base.safetensors >/dev/null
for i in 0 1 2; do
  t=${tasks[i]}
  distac head --quiet --model base.safetensors --data "data/$t" --out "heads/$t.safetensors" >/dev/null
  distac finetune --quiet --model base.safetensors --head "heads/$t.safetensors" --data "data/$t" \
    --lr "$((i + 1))e-2" --steps $((20 + 10 * i)) --warmup 5 --batch 32 --out "ft/$t.safetensors" >/dev/null
done
diag=$(distac diagnose --quiet --json --base base.safetensors --task ft/short.safetensors \
  --task ft/medium.safetensors --task ft/long.safetensors)
echo "slurm test: task vector norms $(jq -r '[.tasks[].norm | . * 1000 | round / 1000] | join(", ")' <<<"$diag")"
jq -e '.norm_ratio > 1.5' <<<"$diag" >/dev/null || fail "the task vectors' norms are too close for the target norm to matter"

# --- the recipe, from README.md
recipe submit >submit.sh
# shellcheck disable=SC2094 # the argument is a marker's name, not this file
recipe condition.sbatch >condition.sbatch
if [ ! -s submit.sh ] || [ ! -s condition.sbatch ]; then fail "README.md lacks the slurm-recipe code blocks"; fi
replace_line submit.sh '^tasks="[^"]*"$' "tasks=\"${tasks[*]}\""
replace_line condition.sbatch '^#SBATCH --cpus-per-task=[0-9]+$' '#SBATCH --cpus-per-task=1'
echo "slurm test: running README.md's recipe"
# shellcheck disable=SC2016
ids=$(bash -euo pipefail -c 'source ./submit.sh >&2; echo "${job:?unset by the recipe} ${merge:?unset by the recipe}"')
read -r job merge <<<"$ids"
wait_completed 300 "$job"
wait_completed 120 "$merge"
[ -f merged.safetensors ] || fail "the recipe wrote no merged.safetensors"
[ "$(job_states "$job" | wc -l)" -eq ${#tasks[@]} ] || fail "job array $job did not run ${#tasks[@]} tasks"

# --- the same tasks conditioned in one process, merged the same way
echo "slurm test: the same, in one distac condition"
target=$(cat target-norm)
args=()
for t in "${tasks[@]}"; do args+=(--task "ft/$t.safetensors" --head "heads/$t.safetensors" --data "data/$t"); done
mkdir single
distac condition --quiet --base base.safetensors "${args[@]}" --target-norm "$target" --out-dir single >/dev/null
margs=()
for t in "${tasks[@]}"; do
  cmp "conditioned/$t.distac.safetensors" "single/$t.distac.safetensors" ||
    fail "task $t conditioned alone under Slurm differs from it in one run of all tasks"
  margs+=(--task "single/$t.distac.safetensors")
done
distac merge --quiet --method ties --base base.safetensors "${margs[@]}" --out single-merged.safetensors >/dev/null
cmp merged.safetensors single-merged.safetensors || fail "the recipe's merge differs from one-process conditioning's"
echo "slurm test: recipe ok: merged.safetensors is bit for bit that of one distac condition"

# --- preemption: SIGTERM to a running index, then a requeue
# The README's condition.sbatch with more steps (~10 s), into an empty
# conditioned/ beside the same inputs.
steps=100000
pre=$tmp/preempt
mkdir -p "$pre/conditioned"
for f in base.safetensors ft heads data target-norm; do ln -s "$work/$f" "$pre/$f"; done
cd "$pre"
sed "s|--out-dir conditioned\$|& --steps $steps|" "$work/condition.sbatch" >condition.sbatch
grep -q -- "--steps $steps" condition.sbatch || fail "README.md's condition.sbatch has no line ending in --out-dir conditioned"
idx=2
t=${tasks[idx]}
j=$(sbatch --parsable --requeue --array=$idx condition.sbatch "${tasks[@]}")
log=$pre/slurm-${j}_$idx.out
echo "slurm test: preempting job ${j}_$idx (task $t, $steps steps)"
running() {
  [ "$(job_states "$j")" = RUNNING ] && [ -f "$log" ] && grep -qE "step [0-9]+/$steps" "$log"
}
wait_for 60 "job $j to run and report progress" running
scancel --signal=TERM --full "$j"
wait_for 60 "job $j to stop" job_done "$j"
state=$(scontrol -o show job "$j")
case "$state" in
  *JobState=FAILED*ExitCode=143:0*) ;;
  *) show_job "$j"; fail "the stopped job is not FAILED with exit code 143:0" ;;
esac
grep -q "stopped; removed" "$log" || { show_job "$j"; fail "distac did not report the signal"; }
echo "slurm test: job log: $(grep -E "step [0-9]+/$steps" "$log" | tail -n 1)"
echo "slurm test: job log: $(grep "stopped; removed" "$log")"
left=$(ls -A conditioned)
[ -z "$left" ] || fail "the stopped job left in conditioned/: $left"
# Requeue the stopped (finished) job: it pends for cred_expire, then reruns
# from the start. Meanwhile the same run, uninterrupted, outside Slurm.
scontrol requeue "$j"
mkdir -p direct
distac condition --quiet --base base.safetensors --task "ft/$t.safetensors" --head "heads/$t.safetensors" \
  --data "data/$t" --target-norm "$target" --steps "$steps" --out-dir direct >/dev/null
wait_completed 120 "$j"
restarts=$(scontrol -o show job "$j" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
[ "$restarts" = 1 ] || fail "job $j: $restarts restarts, want 1"
cmp "conditioned/$t.distac.safetensors" "direct/$t.distac.safetensors" || fail "the requeued run differs from an uninterrupted one"
left=$(ls -A conditioned)
[ "$left" = "$t.distac.safetensors" ] || fail "conditioned/ holds more than the output: $left"
echo "slurm test: preemption ok: SIGTERM left nothing (exit 143), the requeued run gave an uninterrupted run's bits"

echo "slurm test: passed ($((SECONDS - start_time)) s)"
