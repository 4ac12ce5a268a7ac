#!/usr/bin/env bash
# Fuzzes each Bundle reader with libFuzzer (swiftc -sanitize=fuzzer,address) for a bounded
# time and prints the number of inputs each one ran.
#   Tests/Fuzz/run.sh [SECONDS_PER_READER]     (default 60)
#   FUZZ_READERS="png tar" Tests/Fuzz/run.sh 30  (a subset of gzip tar png npy idx manifest bundle)
#   FUZZ_RUNS=10000000 FUZZ_READERS=bundle Tests/Fuzz/run.sh 0   (a number of inputs instead of a time)
#   FUZZ_JOBS=2 ...                               (that many fuzzing processes at once)
# "bundle" is the end-to-end harness: the inputs are choices that build a whole bundle (tar
# headers with random fields, manifests with random keys and numbers, data files with random
# shapes), unpacked and loaded as `augerino bundle check` does.
# Seeds come from small valid files the script writes; crashes are saved under
# .build-fuzz/<reader>/crash-* and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=.build-fuzz
mkdir -p "$out"
python3 - "$out/seeds" <<'PY'
import gzip, io, json, os, struct, sys, tarfile, zlib
root = sys.argv[1]
def put(reader, name, data):
    os.makedirs(f"{root}/{reader}", exist_ok=True)
    open(f"{root}/{reader}/{name}", "wb").write(data)
idx = b"\0\0\x08\x03" + struct.pack(">3I", 2, 3, 3) + bytes(range(18))
put("idx", "a", idx); put("idx", "b", gzip.compress(idx))
put("gzip", "a", gzip.compress(b"hello world" * 20)); put("gzip", "b", gzip.compress(b"x") + gzip.compress(b"y"))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, body in [("manifest.json", b"{}"), ("d/" + "n" * 120, b"abc")]:
        info = tarfile.TarInfo(name); info.size = len(body); t.addfile(info, io.BytesIO(body))
put("tar", "a", buf.getvalue())
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }".ljust(117) + "\n"
put("npy", "a", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<4f", 1, 2, 3, 4))
def chunk(t, b): return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
for color, channels in [(0, 1), (2, 3), (6, 4)]:
    raw = b"".join(b"\x01" + bytes(range(4 * channels)) for _ in range(4))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, color, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    put("png", f"c{color}", png)
put("manifest", "a", json.dumps({"format": 1, "name": "x", "task": "classification", "splits": {"train": {"inputs": "a", "targets": "b"}},
                                 "training": {"epochs": 2}, "augmentation": {"initial_theta": {"rotation": 0.3}}}).encode())
PY
status=0
for reader in ${FUZZ_READERS:-gzip tar png npy idx manifest bundle}; do
    flag=FUZZ_$(echo "$reader" | tr a-z A-Z)
    mkdir -p "$out/$reader/corpus"
    swiftc -O -sanitize=fuzzer,address -parse-as-library -D "$flag" -I Sources/CZlib -lz \
        Tests/Fuzz/FuzzTargets.swift Tests/Fuzz/BundleFuzzer.swift Sources/Bundle/*.swift -o "$out/$reader/fuzz" 2>"$out/$reader/build.log" \
        || { echo "$reader: build failed (see $out/$reader/build.log)"; status=1; continue; }
    mkdir -p "$out/seeds/$reader"
    limit=(-max_total_time="$seconds")
    [[ -n ${FUZZ_RUNS:-} ]] && limit=(-runs="$FUZZ_RUNS")
    jobs=${FUZZ_JOBS:-1}
    rm -f "$out/$reader"/fuzz-*.log
    if ( cd "$out/$reader" && if (( jobs > 1 )); then
             # libFuzzer's -runs counts per job: split the runs among the jobs.
             [[ -n ${FUZZ_RUNS:-} ]] && limit=(-runs=$(( FUZZ_RUNS / jobs )))
             ./fuzz "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -jobs="$jobs" -workers="$jobs" corpus ../seeds/"$reader" > run.log 2>&1
         else
             ./fuzz "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 corpus ../seeds/"$reader" > run.log 2>&1
         fi ); then
        # With -jobs each job logs to fuzz-N.log (run.log repeats their last lines): count those.
        logs=("$out/$reader"/run.log)
        (( jobs > 1 )) && logs=("$out/$reader"/fuzz-*.log)
        runs=$(cat "${logs[@]}" 2>/dev/null | grep -Eo 'Done [0-9]+ runs' | grep -Eo '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo "?")
        echo "$reader: $runs inputs, no crash"
    else
        echo "$reader: FAILED (see $out/$reader/run.log)"
        status=1
    fi
done
exit $status
