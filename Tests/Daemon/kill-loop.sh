#!/usr/bin/env bash
# Kills the daemon with SIGKILL at random moments while it trains, restarts it, and checks that
# every job still finishes with bitwise the model an uninterrupted run produces, exactly once,
# with nothing half-written in the outbox.
#
#   Tests/Daemon/kill-loop.sh [KILLS] [AUGERINO_BINARY]
#
# KILLS (default 100) is the number of kill -9s to deliver; the loop trains the same bundle in
# fresh folders round after round until that many kills landed. Needs a release build
# (swift build -c release) unless a binary is given. Prints one line per round and a summary;
# exit status 0 only when every round matched the reference.
set -euo pipefail
kills_wanted=${1:-100}
binary=${2:-$(cd "$(dirname "$0")/../.." && pwd)/.build/release/augerino}
[[ -x $binary ]] || { echo "error: $binary is not an executable; build with swift build -c release or pass the binary" >&2; exit 2; }
work=$(mktemp -d /tmp/augerino-kill-loop.XXXXXX)
trap 'pkill -KILL -f "$work/" 2>/dev/null || true; rm -rf "$work"' EXIT

"$binary" example mario-iggy --train 128 --test 32 --seed 5 --out "$work/bundle.tar.gz" >/dev/null

setup() {  # a fresh daemon folder $1
  mkdir -p "$1/inbox" "$1/outbox"
  printf 'inbox = inbox\noutbox = outbox\nstate = state\n[daemon]\nthreads = 1\nsettle_time = 0\nrescan_interval = 1\n[training]\nprobe_images = 8\n' > "$1/daemon.conf"
}
job_state() {  # the only job's state in folder $1 ("" before it exists)
  "$binary" jobs --config "$1/daemon.conf" --json 2>/dev/null | grep -o '"state" : "[a-z]*"' | head -1 | cut -d'"' -f4 || true
}
wait_done() {  # waits until the job in $1 is done (or failed)
  for _ in $(seq 1 3000); do
    case $(job_state "$1") in done|failed) return 0;; esac
    sleep 0.1
  done
  echo "error: the job in $1 did not finish" >&2; return 1
}

# The reference: one uninterrupted run.
setup "$work/reference"
"$binary" daemon --config "$work/reference/daemon.conf" 2>"$work/reference/log" &
pid=$!
cp "$work/bundle.tar.gz" "$work/reference/inbox/"
wait_done "$work/reference"
kill -TERM $pid; wait $pid
reference="$work/reference/outbox/bundle/model.safetensors"
[[ -f $reference ]] || { echo "error: the reference run left no model"; cat "$work/reference/log"; exit 1; }

kills=0 round=0 failures=0
while (( kills < kills_wanted )); do
  round=$((round + 1))
  folder="$work/round-$round"
  setup "$folder"
  cp "$work/bundle.tar.gz" "$folder/inbox/"
  round_kills=0
  while :; do
    "$binary" daemon --config "$folder/daemon.conf" 2>>"$folder/log" &
    pid=$!
    sleep "$(( RANDOM % 3 )).$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
    if [[ $(job_state "$folder") == done ]] || (( kills >= kills_wanted )); then
      kill -TERM $pid; wait $pid || true
      break
    fi
    kill -KILL $pid; wait $pid 2>/dev/null || true
    kills=$((kills + 1)); round_kills=$((round_kills + 1))
  done
  # Finish the round without kills.
  "$binary" daemon --config "$folder/daemon.conf" 2>>"$folder/log" &
  pid=$!
  wait_done "$folder"
  kill -TERM $pid; wait $pid || true
  entries=$(ls -A "$folder/outbox" | tr '\n' ' ')
  jobs=$("$binary" jobs --config "$folder/daemon.conf" --json | grep -c '"id"')
  if cmp -s "$reference" "$folder/outbox/bundle/model.safetensors" && [[ $entries == "bundle " ]] && [[ $jobs == 1 ]]; then
    verdict=same
  else
    verdict="DIFFERENT (outbox: $entries; jobs: $jobs)"; failures=$((failures + 1))
  fi
  echo "round $round: $round_kills kills, resumed $(grep -c 'resuming after epoch' "$folder/log" || true) times from a checkpoint; model $verdict"
  rm -rf "$folder"
done
echo "$kills kills in $round rounds; $failures rounds differed from the uninterrupted run"
(( failures == 0 ))
