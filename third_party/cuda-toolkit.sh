#!/usr/bin/env bash
# Pinned recipe: installs the CUDA 11.8 toolkit (nvcc, cuda.h, the libcuda
# stub) from Debian bookworm's non-free component. Idempotent: when the pinned
# versions are already installed it only checks them and exits.
#
#   sudo bash third_party/cuda-toolkit.sh        (root needed for apt-get)
#
# Environment: CUDA_TOOLKIT_CHECK=1 only checks (exit 1 if not installed).
set -euo pipefail

# Exact Debian package versions (bookworm non-free / main). nvcc 11.8 needs a
# host compiler no newer than gcc 11; nvcc preprocesses .cu files with it, so
# it is pinned too (the fatbins in kernels/ must be reproducible).
CUDA_PKG_VERSION="11.8.89~11.8.0-5~deb12u1"
GCC11_VERSION="11.3.0-12"
PKGS=(
  "nvidia-cuda-toolkit=${CUDA_PKG_VERSION}"
  "nvidia-cuda-dev=${CUDA_PKG_VERSION}"
  "gcc-11=${GCC11_VERSION}"
  "g++-11=${GCC11_VERSION}"
)

installed_version() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null | awk '$1=="ii"{print $2}'
}

all_installed() {
  local p name want
  for p in "${PKGS[@]}"; do
    name=${p%%=*}; want=${p#*=}
    [[ "$(installed_version "$name")" == "$want" ]] || return 1
  done
  command -v nvcc >/dev/null 2>&1
}

report() {
  echo "cuda-toolkit: $(nvcc --version | tail -n 2 | head -n 1)"
}

if all_installed; then
  report
  exit 0
fi
if [[ "${CUDA_TOOLKIT_CHECK:-0}" == 1 ]]; then
  echo "cuda-toolkit: pinned packages not installed (run third_party/cuda-toolkit.sh as root)" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "cuda-toolkit: must run as root (apt-get install)" >&2
  exit 1
fi

# Enable contrib/non-free on every Components line of the deb822 sources (once).
src=/etc/apt/sources.list.d/debian.sources
if [[ -f $src ]]; then
  sed -i -E '/^Components:/{/ non-free( |$)/!s/$/ contrib non-free non-free-firmware/}' "$src"
else
  echo "cuda-toolkit: $src not found; add 'contrib non-free non-free-firmware' to your apt sources" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${PKGS[@]}"

all_installed || { echo "cuda-toolkit: install finished but pinned versions are not all present" >&2; exit 1; }
report
