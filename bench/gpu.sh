#!/usr/bin/env bash
# GPU checks and benchmarks for gpu/ (SHA-256d nonce search), in three steps:
#
#   here (Go + CUDA toolkit, no GPU needed):
#     bash bench/gpu.sh build        # .gpu/*.test via go test -c -tags gccuda, .gpu/COMMIT
#                                    # (make build-cuda runs this too)
#   on the GPU machine (no Go needed; carry .gpu):
#     bash bench/gpu.sh run          # tests + benchmarks; logs and RESULT lines in $OUT
#     bash bench/gpu.sh profile      # ncu of one search launch (if the goal is missed)
#   here again:
#     bash bench/gpu.sh record FILE  # append FILE's RESULT lines to bench/results/sha256d.txt
#
# run prints, and writes to $OUT/results.txt:
#   RESULT sha256d.nonce_rate <v> GH/s vs=cpu1core ratio=<x> device=<name> commit=<sha> date=<yyyy-mm-dd>
#   RESULT sha256d.nonce_rate.kernel_alu|kernel_mad <v> GH/s device=... (each kernel variant)
#   RESULT sha256d.cpu1core_rate <v> MH/s device=<cpu> commit=<sha> date=<yyyy-mm-dd>
# GPU_SHAPES=1 adds a block-size / launch-length sweep.
# run also runs the attention softmax benchmarks and their PyTorch peer
# (bench/torch_softmax.py, in the same command) and prints, per direction,
# precision and row length (128, 1024, 8192 columns):
#   RESULT softmax.<fwd|bwd>.bandwidth[.bf16].c<cols> <v> TB/s vs=torch ratio=<x> device=... commit=... date=...
#   RESULT attention.<fwd|bwd>.tflops.d<64|128>.t<T>[.causal] <v> TFLOP/s vs=torch-sdpa ratio=<x> ...
#   bash bench/gpu.sh softmax      # only the softmax and fused attention tests, benchmarks and peers
#                                  # (SOFTMAX_PART=tests or bench: one half)
# run also runs the sketch kernels' benchmarks and their PyTorch peer
# (bench/torch_sketch.py, same command) and prints, per family and d = 1e6,
# 1e7, 1e8 (GB/s count the d-vector's 4*d bytes; ratio = ours/peer):
#   RESULT sketch.<family>.fwd.d<D> <v> GB/s vs=torch_<peer> ratio=<x> device=... commit=... date=...
#   RESULT desketch.<family>.d<D> <v> GB/s vs=torch_<peer> ratio=<x> ...
#   RESULT sketch.countsketch.fwd.d<D>, desketch.countsketch.d<D> ... vs=cuda_memcpy ratio=<fraction of the copy roof>
#   RESULT sketch.srht.fwd.d<D> ... vs=memcpy_same_data ratio=<copy time / SRHT time> (goal >= 0.77)
#   RESULT apply.<family>.d1.24e8 <v> GB/s vs=cuda_memcpy ratio=<x>; apply.<family>.time.d1.24e8 <ms> ms vs=torch_axpy
#   RESULT state_root.d1.24e8 <ms> ms vs=cpu ratio=<x>
#   bash bench/gpu.sh sketch       # only the sketch GPU tests, benchmarks and peer
# and exits non-zero if any GPU test failed. OUT defaults to .gpu/out.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
GPU_DIR=.gpu
# Packages with cuda-tagged tests; each becomes .gpu/<name>.test.
PKGS=(./gpu)
if ls worker/miner/*_cuda_test.go >/dev/null 2>&1 || grep -ls '^//go:build cuda' worker/miner/*_test.go >/dev/null 2>&1; then
  PKGS+=(./worker/miner)
fi

# The attention softmax operator's GPU tests (worker/model, gccuda build).
if grep -ls '^//go:build gccuda' worker/model/*_test.go >/dev/null 2>&1; then
  PKGS+=(./worker/model)
fi

build() {
  mkdir -p "$GPU_DIR"
  for p in "${PKGS[@]}"; do
    name=$(basename "$p")
    # Stripped (-s -w: no ELF symbols or DWARF; Go's own tables, and so
    # panic traces, stay) so that .gpu fits the device machine's 64 MiB.
    echo "gpu.sh: go test -c -tags gccuda -ldflags='-s -w' -o $GPU_DIR/$name.test $p"
    go test -c -tags gccuda -ldflags='-s -w' -o "$GPU_DIR/$name.test" "$p"
    echo "$p" >"$GPU_DIR/$name.pkg" # run from the package directory, as go test does
    # Only libcuda.so.1 (and libc) may be needed from outside.
    needed=$(readelf -d "$GPU_DIR/$name.test" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $NF); print $NF}' | sort | tr '\n' ' ')
    echo "gpu.sh: $name.test needs: $needed"
    for lib in $needed; do
      case $lib in
        libcuda.so.1|libc.so.6|libpthread.so.0|libdl.so.2|libm.so.6|librt.so.1) ;;
        *) echo "gpu.sh: $name.test links $lib: only libcuda.so.1 is allowed from CUDA" >&2; exit 1 ;;
      esac
    done
  done
  commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  if ! git diff --quiet HEAD -- gpu kernels worker/miner worker/model bench/torch_softmax.py bench/torch_sketch.py 2>/dev/null; then
    commit="$commit-dirty"
  fi
  echo "$commit" >"$GPU_DIR/COMMIT"
  echo "gpu.sh: built for commit $commit; now run on the GPU machine: bash bench/gpu.sh run (carry .gpu)"
}

find_libcuda() {
  local t=$1
  if ldd "$t" | grep -q 'libcuda.so.1 => not found'; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/cuda/compat /usr/local/cuda/lib64/stubs; do
      if [[ -e $d/libcuda.so.1 ]]; then
        export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "gpu.sh: libcuda.so.1 from $d"
        return
      fi
    done
    echo "gpu.sh: libcuda.so.1 not found" >&2
    exit 1
  fi
}

run() {
  local root out=${OUT:-$GPU_DIR/out}
  root=$(pwd)
  [[ $out == /* ]] || out="$root/$out"
  mkdir -p "$out"
  [[ -f $GPU_DIR/gpu.test ]] || { echo "gpu.sh: $GPU_DIR/gpu.test missing: run 'bash bench/gpu.sh build' (or make build-cuda) first and carry .gpu" >&2; exit 1; }
  local commit date dev cpu
  commit=$(cat "$GPU_DIR/COMMIT" 2>/dev/null || echo unknown)
  date=$(date -u +%Y-%m-%d)
  find_libcuda "$GPU_DIR/gpu.test"
  {
    echo "commit $commit date $date"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
    lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)' || true
  } | tee "$out/device.txt"
  dev=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)
  cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1 || true)

  local failed=0
  for t in "$GPU_DIR"/*.test; do
    name=$(basename "$t" .test)
    echo "== tests: $name"
    pkgdir=$(cat "$GPU_DIR/$name.pkg" 2>/dev/null || echo .)
    (cd "$pkgdir" && "$root/$t" -test.v -test.count=1 -test.timeout=8m) >"$out/tests-$name.log" 2>&1 || failed=1
    grep -E '^(--- |ok|FAIL|PASS)|self-test|GH/s|latency|cuda:' "$out/tests-$name.log" || true
  done
  local passed nfail
  passed=$(cat "$out"/tests-*.log | grep -c -- '^--- PASS' || true)
  nfail=$(cat "$out"/tests-*.log | grep -c -- '^--- FAIL' || true)
  echo "gpu tests: $passed passed, $nfail failed"

  echo "== benchmarks"
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkNonceSearchGPU$' -test.benchtime 5x -test.count 3 >"$out/bench-gpu.log" 2>&1 || failed=1
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkNonceSearch(CPU|Reference)$' -test.benchtime 2s -test.count 3 -test.cpu 1 >"$out/bench-cpu.log" 2>&1 || failed=1
  if [[ -f $GPU_DIR/miner.test ]]; then
    # The project's CPU solver on one thread, and the GPU through the Solver interface.
    "$GPU_DIR/miner.test" -test.run '^$' -test.bench '^BenchmarkCPUSearch$/^threads=1$' -test.benchtime 2s -test.count 3 >>"$out/bench-cpu.log" 2>&1 || failed=1
    "$GPU_DIR/miner.test" -test.run '^$' -test.bench '^BenchmarkGPUSearch$' -test.benchtime 3x >>"$out/bench-gpu.log" 2>&1 || failed=1
  fi
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkNonceSearchGPUVariant$' -test.benchtime 5x -test.count 2 >"$out/bench-variants.log" 2>&1 || failed=1
  if [[ ${GPU_SHAPES:-0} == 1 ]]; then
    "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkNonceSearchGPUShape' -test.benchtime 3x >"$out/bench-shapes.log" 2>&1 || true
    cat "$out/bench-shapes.log"
  fi
  cat "$out/bench-gpu.log" "$out/bench-variants.log" "$out/bench-cpu.log" | grep -E '^Benchmark|variant' || true

  # Best of the repeated runs (GPU clocks warm up; the CPU core may share).
  local gpu_rate cpu_rate ratio devname
  gpu_rate=$(awk '/^BenchmarkNonceSearchGPU(-[0-9]+)? / {for (i = 1; i < NF; i++) if ($(i+1) == "GH/s" && $i > m) m = $i} END {if (m) printf "%.3f", m}' "$out/bench-gpu.log")
  # One CPU core: the best of our stdlib midstate loop and the miner's CPU solver on one thread.
  cpu_rate=$(awk '/^Benchmark(NonceSearchCPU|CPUSearch\/threads=1)/ {for (i = 1; i < NF; i++) if ($(i+1) == "MH/s" && $i > m) m = $i} END {if (m) printf "%.3f", m}' "$out/bench-cpu.log")
  devname=$(echo "${dev:-unknown}" | tr -s ' ' '-')
  : >"$out/results.txt"
  if [[ -n $gpu_rate && -n $cpu_rate ]]; then
    ratio=$(awk -v g="$gpu_rate" -v c="$cpu_rate" 'BEGIN {printf "%.0f", g * 1000 / c}')
    echo "RESULT sha256d.nonce_rate $gpu_rate GH/s vs=cpu1core ratio=$ratio device=$devname commit=$commit date=$date" | tee -a "$out/results.txt"
    for v in alu mad; do
      vr=$(awk -v v="variant=$v" 'index($1, v) {for (i = 1; i < NF; i++) if ($(i+1) == "GH/s" && $i > m) m = $i} END {if (m) printf "%.3f", m}' "$out/bench-variants.log")
      [[ -n $vr ]] && echo "RESULT sha256d.nonce_rate.kernel_$v $vr GH/s device=$devname commit=$commit date=$date" | tee -a "$out/results.txt"
    done
    echo "RESULT sha256d.cpu1core_rate $cpu_rate MH/s device=$(echo "${cpu:-unknown}" | tr -s ' ' '-') commit=$commit date=$date" | tee -a "$out/results.txt"
  else
    echo "gpu.sh: no benchmark figures (see $out/bench-*.log)" >&2
    failed=1
  fi
  softmax_bench "$out" "$commit" "$date" "$devname" || failed=1
  sketch_bench "$out" "$commit" "$date" "$devname" || failed=1
  exit $failed
}

# softmax_bench OUT COMMIT DATE DEVICE: the softmax bandwidth benchmarks and
# the PyTorch peer in one go; appends RESULT lines to OUT/results.txt.
softmax_bench() {
  local out=$1 commit=$2 date=$3 devname=$4 rc=0
  echo "== softmax benchmarks (Go) and PyTorch peer"
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkSoftmaxGPU$' -test.benchtime 50x -test.count 3 >"$out/bench-softmax.log" 2>&1 || rc=1
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkSoftmaxGPUKind$' -test.benchtime 20x >"$out/bench-softmax-kinds.log" 2>&1 || rc=1
  PYTHONUNBUFFERED=1 python3 bench/torch_softmax.py >"$out/torch-softmax.log" 2>&1 || rc=1
  grep -hE '^Benchmark' "$out/bench-softmax.log" "$out/bench-softmax-kinds.log" || true
  grep -E '^(TORCH|#)' "$out/torch-softmax.log" || tail -n 5 "$out/torch-softmax.log"
  local dir prec cols ours peer tbs ratio metric goals=""
  for dir in fwd bwd; do
    for prec in f32 bf16; do
      for cols in 128 1024 8192; do
        # Best of the repeated Go runs; the peer's median.
        ours=$(awk -v k="BenchmarkSoftmaxGPU/dir=$dir/prec=$prec/cols=$cols" '($1 == k || index($1, k "-") == 1) {for (i = 2; i < NF; i++) if ($(i+1) == "GB/s" && $i > m) m = $i} END {if (m) printf "%.1f", m}' "$out/bench-softmax.log")
        peer=$(awk -v k="softmax.$dir.$prec.c$cols" '$1 == "TORCH" && $2 == k {print $3}' "$out/torch-softmax.log")
        metric="softmax.$dir.bandwidth.c$cols"
        [[ $prec == bf16 ]] && metric="softmax.$dir.bandwidth.bf16.c$cols"
        if [[ -z $ours ]]; then
          echo "gpu.sh: no Go figure for $metric" >&2
          rc=1
          continue
        fi
        tbs=$(awk -v g="$ours" 'BEGIN {printf "%.3f", g / 1000}')
        if [[ -n $peer ]]; then
          ratio=$(awk -v g="$ours" -v p="$peer" 'BEGIN {printf "%.3f", g / p}')
          echo "RESULT $metric $tbs TB/s vs=torch ratio=$ratio device=$devname commit=$commit date=$date" | tee -a "$out/results.txt"
          goals+="$(awk -v m="$metric" -v t="$tbs" -v r="$ratio" -v c="$cols" 'BEGIN {ok = (r >= 1.0) && (c != 8192 || t >= 2.7); printf "%s %s TB/s %.2fx torch%s%s\n", m, t, r, (c == 8192 ? " (goal 2.7 TB/s, 1.0x)" : " (goal 1.0x)"), (ok ? " ok" : " MISSED")}')"$'\n'
        else
          echo "RESULT $metric $tbs TB/s device=$devname commit=$commit date=$date" | tee -a "$out/results.txt"
        fi
      done
    done
  done
  printf '%s' "$goals" | tee "$out/softmax-goals.txt"
  attention_bench "$out" "$commit" "$date" "$devname" || rc=1
  return $rc
}

# attention_bench OUT COMMIT DATE DEVICE: the fused attention benchmark
# against scaled_dot_product_attention (bf16, 16k tokens, 2048/D heads; the
# peer's figures come from the torch_softmax.py run above); appends
#   RESULT attention.<fwd|bwd>.tflops.d<D>.t<T>[.causal] <v> TFLOP/s vs=torch-sdpa ratio=<x> ...
attention_bench() {
  local out=$1 commit=$2 date=$3 devname=$4 rc=0
  echo "== fused attention benchmarks (Go) against SDPA"
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkAttentionGPU$' -test.benchtime 20x >"$out/bench-attention.log" 2>&1 || rc=1
  grep -E '^Benchmark' "$out/bench-attention.log" || tail -n 5 "$out/bench-attention.log"
  local dir d t c key ours peer ratio metric
  for dir in fwd bwd; do
    for d in 64 128; do
      for t in 512 1024 2048 4096 8192; do
        for c in "" ".causal"; do
          key="BenchmarkAttentionGPU/dir=$dir/d=$d/t=$t${c:+/causal}"
          ours=$(awk -v k="$key" '($1 == k || index($1, k "-") == 1) {for (i = 2; i < NF; i++) if ($(i+1) == "TFLOP/s" && $i > m) m = $i} END {if (m) printf "%.1f", m}' "$out/bench-attention.log")
          peer=$(awk -v k="attention.$dir.d$d.t$t$c" '$1 == "TORCH" && $2 == k {print $3}' "$out/torch-softmax.log")
          metric="attention.$dir.tflops.d$d.t$t$c"
          if [[ -z $ours ]]; then
            echo "gpu.sh: no Go figure for $metric" >&2
            rc=1
            continue
          fi
          if [[ -n $peer ]]; then
            ratio=$(awk -v g="$ours" -v p="$peer" 'BEGIN {printf "%.3f", g / p}')
            echo "RESULT $metric $ours TFLOP/s vs=torch-sdpa ratio=$ratio device=$devname commit=$commit date=$date" | tee -a "$out/results.txt"
          else
            echo "RESULT $metric $ours TFLOP/s device=$devname commit=$commit date=$date" | tee -a "$out/results.txt"
          fi
        done
      done
    done
  done
  return $rc
}

# softmax: only the softmax and fused attention GPU tests, benchmarks and
# PyTorch peer (a short device session). SOFTMAX_PART=tests or bench runs
# half of it (each well inside one 10-minute device command).
softmax_only() {
  local root out=${OUT:-$GPU_DIR/out} failed=0 part=${SOFTMAX_PART:-all}
  root=$(pwd)
  [[ $out == /* ]] || out="$root/$out"
  mkdir -p "$out"
  [[ -f $GPU_DIR/gpu.test ]] || { echo "gpu.sh: $GPU_DIR/gpu.test missing: run 'bash bench/gpu.sh build' first and carry .gpu" >&2; exit 1; }
  local commit date devname
  commit=$(cat "$GPU_DIR/COMMIT" 2>/dev/null || echo unknown)
  date=$(date -u +%Y-%m-%d)
  find_libcuda "$GPU_DIR/gpu.test"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$out/device.txt" || true
  devname=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 | tr -s ' ' '-' || true)
  if [[ $part != bench ]]; then
    echo "== tests: gpu (softmax, fused attention)"
    (cd gpu && "$root/$GPU_DIR/gpu.test" -test.v -test.count=1 -test.timeout=8m -test.run 'Softmax|Attention') >"$out/tests-gpu-softmax.log" 2>&1 || failed=1
    grep -E '^(--- |ok|FAIL|PASS)|self-test' "$out/tests-gpu-softmax.log" | grep -v -- '    --- PASS' || true
    if [[ -f $GPU_DIR/model.test ]]; then
      echo "== tests: worker/model (GPU softmax and fused attention operators, training curves)"
      (cd worker/model && "$root/$GPU_DIR/model.test" -test.v -test.count=1 -test.timeout=8m -test.run 'AttnSoftmax|GPUTraining|FusedAttention') >"$out/tests-model-softmax.log" 2>&1 || failed=1
      grep -E '^(--- |ok|FAIL|PASS)|loss|softmax on' "$out/tests-model-softmax.log" || true
    fi
  fi
  : >"$out/results.txt"
  if [[ $part != tests ]]; then
    softmax_bench "$out" "$commit" "$date" "${devname:-unknown}" || failed=1
  fi
  if [[ $part != bench ]]; then
    echo "gpu tests: $(cat "$out"/tests-*.log | grep -c -- '--- PASS' || true) passed, $(cat "$out"/tests-*.log | grep -c -- '--- FAIL' || true) failed"
  fi
  exit $failed
}

# sketch_bench OUT COMMIT DATE DEVICE: the sketch kernels' benchmarks
# (forward, de-sketch, Apply and state root, the copy roof) and the PyTorch
# peer in one go; appends RESULT lines to OUT/results.txt and the goal checks
# to OUT/sketch-goals.txt.
sketch_bench() {
  local out=$1 commit=$2 date=$3 devname=$4 rc=0
  echo "== sketch benchmarks (Go) and PyTorch peer"
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^Benchmark(Sketch|Desketch|Copy)GPU$' -test.benchtime 10x -test.count 2 >"$out/bench-sketch.log" 2>&1 || rc=1
  "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^Benchmark(Apply|Root)GPU$' -test.benchtime 10x >"$out/bench-apply.log" 2>&1 || rc=1
  PYTHONUNBUFFERED=1 python3 bench/torch_sketch.py >"$out/torch-sketch.log" 2>&1 || rc=1
  grep -hE '^Benchmark' "$out/bench-sketch.log" "$out/bench-apply.log" || true
  grep -E '^(TORCH|#)' "$out/torch-sketch.log" || tail -n 5 "$out/torch-sketch.log"
  # sk_ours NAME UNIT LOG: the best (largest GB/s, smallest ms) of the runs of benchmark NAME.
  sk_ours() {
    awk -v k="$1" -v u="$2" '($1 == k || index($1, k "-") == 1) {for (i = 2; i < NF; i++) if ($(i+1) == u) {v = $i + 0; if (!n || (u == "ms" ? v < m : v > m)) m = v; n = 1}} END {if (n) printf "%.4g", m}' "$3"
  }
  sk_peer() { awk -v k="$1" '$1 == "TORCH" && $2 == k {print $3}' "$out/torch-sketch.log"; }
  sk_emit() { echo "RESULT $* device=$devname commit=$commit date=$date" | tee -a "$out/results.txt"; }
  sk_ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3f", a / b}'; }
  local goals="" D f v p r copy pname pkey
  for D in 1e6 1e7 1e8; do
    copy=$(sk_ours "BenchmarkCopyGPU/d=$D" GB/s "$out/bench-sketch.log")
    p=$(sk_peer "copy.d$D")
    [[ -n $copy ]] && sk_emit "copy.d$D $copy GB/s${p:+ vs=torch_copy ratio=$(sk_ratio "$copy" "$p")}"
    for f in countsketch countsketch-t3 countsketch-topk sparse1 sparse2 srht gaussian ams identity; do
      case $f in
        countsketch) pkey=sketch.sparse.t1.fwd; pname=torch_index_add ;;
        countsketch-t3) pkey=sketch.sparse.t3.fwd; pname=torch_index_add ;;
        countsketch-topk) pkey=sketch.sparse.t5.fwd; pname=torch_index_add ;;
        sparse1|sparse2) pkey=sketch.sparse.t4.fwd; pname=torch_index_add ;;
        srht) pkey=sketch.srht.fwd; pname=torch_fwht ;;
        gaussian|ams) pkey=sketch.dense.fwd; pname=torch_mv_materialised ;;
        *) pkey=""; pname="" ;;
      esac
      v=$(sk_ours "BenchmarkSketchGPU/family=$f/d=$D" GB/s "$out/bench-sketch.log")
      if [[ -z $v ]]; then echo "gpu.sh: no Go figure for sketch.$f.fwd.d$D" >&2; rc=1; continue; fi
      p=""; [[ -n $pkey ]] && p=$(sk_peer "$pkey.d$D")
      sk_emit "sketch.$f.fwd.d$D $v GB/s${p:+ vs=$pname ratio=$(sk_ratio "$v" "$p")}"
      if [[ -n $copy && ( $f == countsketch || $f == srht ) ]]; then
        if [[ $f == srht ]]; then
          # Time of a copy of the same d floats (8d bytes at the copy's rate) over the SRHT's (4d bytes at v).
          r=$(awk -v v="$v" -v c="$copy" 'BEGIN {printf "%.3f", 2 * v / c}')
          sk_emit "sketch.srht.fwd.d$D $v GB/s vs=memcpy_same_data ratio=$r"
          goals+="$(awk -v d="$D" -v r="$r" 'BEGIN {printf "srht.fwd.d%s copy/srht time %.2f (goal >= 0.77, i.e. within 1.3x of a copy)%s\n", d, r, (r >= 0.77 ? " ok" : " MISSED")}')"$'\n'
        else
          r=$(sk_ratio "$v" "$copy")
          sk_emit "sketch.countsketch.fwd.d$D $v GB/s vs=cuda_memcpy ratio=$r"
          goals+="$(awk -v d="$D" -v r="$r" 'BEGIN {printf "countsketch.fwd.d%s %.2f of the copy roof (goal 0.70)%s\n", d, r, (r >= 0.70 ? " ok" : " MISSED")}')"$'\n'
        fi
      fi
      case $f in
        countsketch) pkey=desketch.sparse.t1; pname=torch_gather ;;
        countsketch-t3) pkey=desketch.sparse.t3; pname=torch_gather ;;
        countsketch-topk) pkey=desketch.countsketch_topk; pname=torch_median_topk ;;
        sparse1|sparse2) pkey=desketch.sparse.t4; pname=torch_gather ;;
        srht) pkey=desketch.srht; pname=torch_fwht ;;
        gaussian|ams) pkey=desketch.dense; pname=torch_mv_materialised ;;
        *) pkey=""; pname="" ;;
      esac
      v=$(sk_ours "BenchmarkDesketchGPU/family=$f/d=$D" GB/s "$out/bench-sketch.log")
      if [[ -z $v ]]; then echo "gpu.sh: no Go figure for desketch.$f.d$D" >&2; rc=1; continue; fi
      p=""; [[ -n $pkey ]] && p=$(sk_peer "$pkey.d$D")
      sk_emit "desketch.$f.d$D $v GB/s${p:+ vs=$pname ratio=$(sk_ratio "$v" "$p")}"
      if [[ -n $copy && $f == countsketch ]]; then
        r=$(sk_ratio "$v" "$copy")
        sk_emit "desketch.countsketch.d$D $v GB/s vs=cuda_memcpy ratio=$r"
        goals+="$(awk -v d="$D" -v r="$r" 'BEGIN {printf "desketch.countsketch.d%s %.2f of the copy roof (goal 0.70)%s\n", d, r, (r >= 0.70 ? " ok" : " MISSED")}')"$'\n'
      fi
    done
  done
  local axpy gbs ms copy8 cpu
  axpy=$(sk_peer axpy.d1.24e8)
  copy8=$(sk_ours "BenchmarkCopyGPU/d=1e8" GB/s "$out/bench-sketch.log")
  # Apply: the device part (the goal) and the whole call with the CPU's
  # contribution checks.
  for f in countsketch-topk countsketch srht; do
    gbs=$(sk_ours "BenchmarkApplyGPU/family=$f/d=1.24e8/part=device" GB/s "$out/bench-apply.log")
    ms=$(sk_ours "BenchmarkApplyGPU/family=$f/d=1.24e8/part=device" ms "$out/bench-apply.log")
    if [[ -z $gbs ]]; then echo "gpu.sh: no Go figure for apply.$f" >&2; rc=1; continue; fi
    r=$(sk_ratio "$gbs" "$copy8")
    sk_emit "apply.$f.d1.24e8 $gbs GB/s${copy8:+ vs=cuda_memcpy ratio=$r}"
    if [[ -n $axpy ]]; then
      # A bare PyTorch axpy over the same weights (12 bytes per weight at its rate).
      sk_emit "apply.$f.time.d1.24e8 $ms ms vs=torch_axpy ratio=$(awk -v ms="$ms" -v a="$axpy" 'BEGIN {printf "%.3f", ms / (12 * 124439808 / a / 1e6)}')"
    else
      sk_emit "apply.$f.time.d1.24e8 $ms ms"
    fi
    ms=$(sk_ours "BenchmarkApplyGPU/family=$f/d=1.24e8/part=all" ms "$out/bench-apply.log")
    [[ -n $ms ]] && sk_emit "apply.$f.time_with_checks.d1.24e8 $ms ms"
    [[ -n $copy8 ]] && goals+="$(awk -v f="$f" -v r="$r" 'BEGIN {printf "apply.%s.d1.24e8 %.2f of the copy roof (goal 0.70)%s\n", f, r, (r >= 0.70 ? " ok" : " MISSED")}')"$'\n'
  done
  ms=$(sk_ours "BenchmarkRootGPU/where=gpu/d=1.24e8" ms "$out/bench-apply.log")
  cpu=$(sk_ours "BenchmarkRootGPU/where=cpu/d=1.24e8" ms "$out/bench-apply.log")
  [[ -n $ms ]] && sk_emit "state_root.d1.24e8 $ms ms${cpu:+ vs=cpu ratio=$(sk_ratio "$ms" "$cpu")}"
  printf '%s' "$goals" | tee "$out/sketch-goals.txt"
  return $rc
}

# sketch: only the sketch kernels' GPU tests, benchmarks and PyTorch peer
# (fits one device command).
sketch_only() {
  local root out=${OUT:-$GPU_DIR/out} failed=0
  root=$(pwd)
  [[ $out == /* ]] || out="$root/$out"
  mkdir -p "$out"
  [[ -f $GPU_DIR/gpu.test ]] || { echo "gpu.sh: $GPU_DIR/gpu.test missing: run 'bash bench/gpu.sh build' first and carry .gpu" >&2; exit 1; }
  local commit date devname
  commit=$(cat "$GPU_DIR/COMMIT" 2>/dev/null || echo unknown)
  date=$(date -u +%Y-%m-%d)
  find_libcuda "$GPU_DIR/gpu.test"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$out/device.txt" || true
  devname=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 | tr -s ' ' '-' || true)
  echo "== tests: gpu (sketch kernels)"
  (cd gpu && "$root/$GPU_DIR/gpu.test" -test.v -test.count=1 -test.timeout=9m -test.run '^Test(Devices|Sketch.*GPU|ApplyReplayGPU|MakeContributionGPU)$') >"$out/tests-gpu-sketch.log" 2>&1 || failed=1
  grep -E '^(--- |ok|FAIL|PASS)|sketch_|relative error|differ' "$out/tests-gpu-sketch.log" | grep -v -- '    --- PASS' || true
  : >"$out/results.txt"
  sketch_bench "$out" "$commit" "$date" "${devname:-unknown}" || failed=1
  echo "gpu tests: $(grep -c -- '--- PASS' "$out/tests-gpu-sketch.log" || true) passed, $(grep -c -- '--- FAIL' "$out/tests-gpu-sketch.log" || true) failed"
  exit $failed
}

profile() {
  local out=${OUT:-$GPU_DIR/out}
  mkdir -p "$out"
  find_libcuda "$GPU_DIR/gpu.test"
  # One full-size launch of each kernel variant, with the sections that say
  # where an integer-bound kernel spends its issue slots (pipe utilization,
  # instruction mix, stalls).
  for k in sha256d_search sha256d_search_mad; do
    ncu --kernel-name "$k" --launch-skip 20 --launch-count 1 \
      --section SpeedOfLight --section ComputeWorkloadAnalysis --section InstructionStats \
      --section Occupancy --section LaunchStats --section SchedulerStats --section WarpStateStats \
      "$GPU_DIR/gpu.test" -test.run '^$' -test.bench '^BenchmarkNonceSearchGPUVariant$' -test.benchtime 1x 2>&1 | tee "$out/ncu-$k.txt"
  done
}

record() {
  local f=${1:?usage: bash bench/gpu.sh record RESULTS_FILE}
  mkdir -p bench/results
  grep '^RESULT sha256d\.' "$f" | tee -a bench/results/sha256d.txt || true
  grep '^RESULT softmax\.' "$f" | tee -a bench/results/softmax.txt || true
  grep '^RESULT attention\.' "$f" | tee -a bench/results/attention.txt || true
  grep -E '^RESULT (sketch|desketch|apply|state_root|copy)\.' "$f" | tee -a bench/results/sketch.txt || true
}

case $mode in
  build) build ;;
  run) run ;;
  profile) profile ;;
  softmax) softmax_only ;;
  sketch) sketch_only ;;
  record) shift; record "$@" ;;
  *) echo "usage: bash bench/gpu.sh build|run|softmax|sketch|profile|record FILE" >&2; exit 2 ;;
esac
