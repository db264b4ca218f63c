#!/usr/bin/env bash
# A CUDA compiler without a system CUDA toolkit: NVIDIA's own nvcc, its front end (NVVM),
# the compiler's and the runtime's headers and the CCCL headers from their Python wheels
# (PyPI: nvidia-cuda-nvcc, nvidia-nvvm, nvidia-cuda-crt, nvidia-cuda-runtime,
# nvidia-cuda-cccl), unpacked into one folder laid out as a toolkit (bin/, include/, nvvm/,
# lib64/), so that `cargo build --features cuda` can compile candle's kernels to PTX.
#
#   scripts/cuda_toolchain.sh [DIR]        # default: ~/.cache/spatialscope-cuda
#   eval "$(scripts/cuda_toolchain.sh --env [DIR])"
#   cargo build --features cuda
#
# Needs python3 with pip or venv (only to download the wheels) and a host C++ compiler
# (gcc/g++). CUDA 13.0 is chosen: its PTX is read by every driver from 13.0 on, and the
# kernels are built for compute capability 8.0 (Ampere and newer: A100, RTX 30/40, H100,
# H200; the driver compiles the PTX for the card it finds) unless CUDA_COMPUTE_CAP says
# otherwise.
#
# Linking: candle 0.11 links the CUDA libraries dynamically (cudarc's `dynamic-linking`), so
# the linker needs libcuda, libcublas, libcublasLt, libcurand and libnvrtc. The driver has no
# wheel and cuBLAS's is half a gigabyte, so the folder gets link stubs instead (`lib/stubs/`:
# every function cudarc declares, each returning an error code, with the real libraries'
# sonames) and the real libcudart from its wheel. At run time the binary needs the real
# libraries: the NVIDIA driver's libcuda.so.1 and the CUDA 13 runtime libraries (the ones
# PyTorch's wheels install under site-packages/nvidia/cu13/lib: put that folder on
# LD_LIBRARY_PATH). With the stubs on LD_LIBRARY_PATH instead (a machine with no GPU), the
# binary starts, `--device cuda` is refused by the "driver" and it runs on the CPU: what CI
# checks. Run from the repository (the stubs read cudarc's declarations: `cargo fetch`).
set -euo pipefail

VERSION_NVCC=13.0.88
VERSION_RUNTIME=13.0.96
VERSION_CCCL=13.0.85
VERSIONS="$VERSION_NVCC $VERSION_RUNTIME $VERSION_CCCL stubs-2"

env_only=false
if [ "${1:-}" = "--env" ]; then
  env_only=true
  shift
fi
DIR="${1:-$HOME/.cache/spatialscope-cuda}"
print_env() {
  echo "export CUDA_ROOT='$DIR' CUDA_PATH='$DIR' CUDA_TOOLKIT_ROOT_DIR='$DIR'"
  echo "export PATH='$DIR/bin':\"\$PATH\""
  echo "export CUDA_COMPUTE_CAP=\"\${CUDA_COMPUTE_CAP:-80}\""
}

if [ -x "$DIR/bin/nvcc" ] && [ -f "$DIR/.versions" ] \
  && [ "$(cat "$DIR/.versions")" = "$VERSIONS" ]; then
  if $env_only; then print_env; fi
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
else
  python3 -m venv "$work/venv" >&2
  pip=("$work/venv/bin/python" -m pip)
fi
"${pip[@]}" download -q --no-deps -d "$work/wheels" \
  "nvidia-cuda-nvcc==$VERSION_NVCC" \
  "nvidia-nvvm==$VERSION_NVCC" \
  "nvidia-cuda-crt==$VERSION_NVCC" \
  "nvidia-cuda-runtime==$VERSION_RUNTIME" \
  "nvidia-cuda-cccl==$VERSION_CCCL" >&2
for w in "$work"/wheels/*.whl; do
  python3 -m zipfile -e "$w" "$work/unpacked" >&2
done
# Each wheel holds one part of the toolkit under nvidia/cu13/: merged, they are the toolkit.
rm -rf "$DIR"
mkdir -p "$DIR"
cp -a "$work/unpacked/nvidia/cu13/." "$DIR/"
# The zip format drops the executable bits.
chmod +x "$DIR"/bin/* "$DIR"/nvvm/bin/* 2>/dev/null || true
[ -d "$DIR/lib" ] && [ ! -e "$DIR/lib64" ] && ln -s lib "$DIR/lib64"
ln -sf libcudart.so.13 "$DIR/lib/libcudart.so"

# Link stubs from cudarc's declarations (the version Cargo.lock pins).
cargo fetch -q >&2
cudarc=$(cargo metadata --format-version 1 --features cuda 2>/dev/null | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "cudarc"))')
mkdir -p "$DIR/lib/stubs"
stub() { # stub NAME SONAME PATTERN [EXCLUDE]
  local name=$1 soname=$2 pattern=$3 exclude=${4:-^$}
  grep -rhoE "fn ${pattern}[A-Za-z0-9_]*\(" "$cudarc/src" | sed -E 's/^fn //; s/\($//' \
    | grep -vE "$exclude" | sort -u \
    | awk '{ printf "int %s(void) { return 100; }\n", $1 }' > "$work/$name.c"
  cc -shared -fPIC -o "$DIR/lib/stubs/lib$name.so" -Wl,-soname,"$soname" "$work/$name.c"
}
stub cuda libcuda.so.1 'cu[A-Z]'
stub cublas libcublas.so.13 'cublas' '^cublasLt'
stub cublasLt libcublasLt.so.13 'cublasLt'
stub curand libcurand.so.10 'curand'
stub nvrtc libnvrtc.so.13 'nvrtc'
# The run-time names in stubs/, the link-time names in lib/ (where cudarc's build script
# already points the linker).
for l in cuda:1 cublas:13 cublasLt:13 curand:10 nvrtc:13; do
  ln -sf "lib${l%%:*}.so" "$DIR/lib/stubs/lib${l%%:*}.so.${l##*:}"
  ln -sf "stubs/lib${l%%:*}.so" "$DIR/lib/lib${l%%:*}.so"
done
echo "$VERSIONS" > "$DIR/.versions"
"$DIR/bin/nvcc" --version >&2
if $env_only; then print_env; fi
