#!/usr/bin/env bash
# Install the pinned llama-cpp-python[server] into a virtualenv, built portable.
#
#   scripts/llm/build_llama_cpp.sh [VENV]        (default: .venv)
#
# llama-cpp-python is built from source (sdist).  By default llama.cpp compiles with
# -march=native (GGML_NATIVE=ON); such a build segfaults / SIGILLs on a CPU that lacks an
# instruction the build host had, so we force a portable x86-64 build with AVX2/FMA/F16C.
# Override with LLAMA_CPP_CMAKE_ARGS if you need something else.
#
# Idempotent: does nothing when `llama_cpp` is already importable at the pinned version and
# the server extra's modules import too.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
VENV="${1:-.venv}"
PY="$VENV/bin/python"

if [[ ! -x "$PY" ]]; then
    echo "build_llama_cpp: no python at $PY (create the venv first)" >&2
    exit 2
fi

installed="$("$PY" - <<'EOF' 2>/dev/null || true
import importlib.metadata as md
try:
    v = md.version("llama_cpp_python")
except md.PackageNotFoundError:
    raise SystemExit(0)
import llama_cpp  # noqa: F401  (loads libllama: proves the build is usable)
import llama_cpp.server.app  # noqa: F401  (server extra present)
print(v)
EOF
)"

if [[ "$installed" == "$LLAMA_CPP_PYTHON_VERSION" ]]; then
    echo "build_llama_cpp: llama-cpp-python $installed already installed in $VENV"
    exit 0
fi

DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
# Text-only: skip the multimodal (mtmd/llava) library, ~30% of the build; it is loaded lazily
# only by the vision chat handlers, which we do not use.
DEFAULT_CMAKE_ARGS+=" -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF"
export CMAKE_ARGS="${LLAMA_CPP_CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
# Always compile from source: a cached wheel may have been built native on another CPU.
export FORCE_CMAKE=1

echo "build_llama_cpp: building llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION into $VENV"
echo "build_llama_cpp: CMAKE_ARGS=$CMAKE_ARGS (takes ~4-6 min on 2 cores)"
start=$(date +%s)
"$PY" -m pip install --no-cache-dir --no-binary llama-cpp-python \
    "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
"$PY" -c "import llama_cpp, llama_cpp.server.app; print('build_llama_cpp: ok', llama_cpp.__version__)"
echo "build_llama_cpp: done in $(( $(date +%s) - start ))s"
