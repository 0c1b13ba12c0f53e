#!/usr/bin/env bash
# Rebuilds every kernels/*.cu into kernels/*.fatbin with the pinned CUDA 11.8
# toolkit (third_party/cuda-toolkit.sh). One kernel per .cu file. The output is
# byte-for-byte reproducible (no paths, times or temp names in it), so CI
# rebuilds and fails when a committed .fatbin is stale (git diff kernels/).
#
#   bash kernels/build.sh            # all kernels
#   bash kernels/build.sh sha256d    # one
#
# Environment: NVCC (default nvcc), KERNELS_VERBOSE=1 prints each kernel's
# registers/spills (cuobjdump -res-usage; -Xptxas -v would change the output).
set -euo pipefail
cd "$(dirname "$0")"

NVCC=${NVCC:-nvcc}
want="release 11.8"
if ! command -v "$NVCC" >/dev/null 2>&1; then
  echo "kernels: $NVCC not found; install the toolkit with: make cuda-toolkit" >&2
  exit 1
fi
if ! "$NVCC" --version | grep -q "$want"; then
  echo "kernels: $NVCC is not CUDA 11.8 ($("$NVCC" --version | tail -n 2 | head -n 1)); the committed fatbins are built with 11.8" >&2
  exit 1
fi

# sm_80/86/89/90 machine code plus compute_90 PTX for later GPUs.
ARCH=(
  -gencode arch=compute_80,code=sm_80
  -gencode arch=compute_86,code=sm_86
  -gencode arch=compute_89,code=sm_89
  -gencode 'arch=compute_90,code=[sm_90,compute_90]'
)
FLAGS=(-fatbin -O3 -std=c++14 -Werror all-warnings)

if [[ $# -gt 0 ]]; then
  srcs=()
  for n in "$@"; do srcs+=("${n%.cu}.cu"); done
else
  srcs=(*.cu)
fi
for src in "${srcs[@]}"; do
  out=${src%.cu}.fatbin
  # Relative paths and a fixed output name keep the fatbin independent of
  # where the tree lives.
  # Per-kernel flags from a "// nvcc-flags: ..." line in the source (e.g.
  # -fmad=false for the consensus kernels).
  read -r -a extra <<<"$(sed -n 's|^// nvcc-flags: *||p' "$src" | head -n 1)"
  "$NVCC" "${FLAGS[@]}" ${extra[@]+"${extra[@]}"} "${ARCH[@]}" -o "$out.tmp" "$src"
  mv "$out.tmp" "$out"
  echo "kernels: $src -> $out ($(stat -c %s "$out") bytes)"
  if [[ "${KERNELS_VERBOSE:-0}" == 1 ]]; then
    cuobjdump -res-usage "$out" | grep -E 'arch|REG' || true
  fi
done
