#!/usr/bin/env bash
# Install the pinned llama-cpp-python[server] into a virtualenv, built portable.
#
#   scripts/llm/build_llama_cpp.sh [VENV]        (default: .venv)
#
# llama-cpp-python ships only an sdist on PyPI, and by default llama.cpp compiles with
# -march=native (GGML_NATIVE=ON): such a build segfaults / SIGILLs on a CPU lacking an
# instruction the build host had. We force a portable x86-64 build (AVX2/FMA/F16C, no AVX-512).
# Override with LLAMA_CPP_CMAKE_ARGS if you need something else.
#
# The compile takes ~9 min of CPU on 2 cores (much longer on a loaded machine), so the portable
# wheel is cached outside the repo, keyed by version + CMake args:
#   ${LLAMA_CPP_WHEEL_CACHE:-${XDG_CACHE_HOME:-~/.cache}/libromind/wheels}/llama-cpp-python-<ver>-<hash>/
# A fresh clone / fresh venv then installs in seconds.
#
# Idempotent: does nothing when `llama_cpp` (and its server) already import at the pinned version.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
# Exact pins for the [server] extra's dependencies that libromind does not already pin.
SERVER_PINS=(diskcache==5.6.3 starlette-context==0.3.6 PyYAML==6.0.3)
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
export FORCE_CMAKE=1

key="$(printf '%s|%s|%s' "$LLAMA_CPP_PYTHON_VERSION" "$CMAKE_ARGS" "$("$PY" -c 'import sys; print(sys.version_info[:2])')" \
    | sha256sum | cut -c1-12)"
CACHE_ROOT="${LLAMA_CPP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libromind/wheels}"
CACHE_DIR="$CACHE_ROOT/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION-$key"
pattern="llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION-*.whl"

find_wheel() { compgen -G "$CACHE_DIR/$pattern" | head -n1 || true; }

start=$(date +%s)
wheel="$(find_wheel)"
if [[ -z "$wheel" ]]; then
    echo "build_llama_cpp: compiling llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION from source"
    echo "build_llama_cpp: CMAKE_ARGS=$CMAKE_ARGS"
    echo "build_llama_cpp: (~9 CPU-minutes on 2 cores; wheel cached in $CACHE_DIR)"
    mkdir -p "$CACHE_ROOT"
    tmp="$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    # --no-binary: never take a prebuilt (possibly -march=native) wheel from an index or cache.
    "$PY" -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -w "$tmp"
    built="$(compgen -G "$tmp/$pattern" | head -n1 || true)"
    if [[ -z "$built" ]]; then
        echo "build_llama_cpp: pip wheel produced no $pattern" >&2
        exit 1
    fi
    rm -rf "$CACHE_DIR"
    mkdir -p "$CACHE_DIR"
    mv "$built" "$CACHE_DIR/"
    wheel="$(find_wheel)"
    echo "build_llama_cpp: compiled in $(( $(date +%s) - start ))s -> $wheel"
else
    echo "build_llama_cpp: using cached portable wheel $wheel"
fi

# Two steps: force the (portable) wheel in even over a same-version broken/native install, then
# let pip add the [server] dependencies without touching anything already satisfied.
"$PY" -m pip install --no-deps --force-reinstall "$wheel"
"$PY" -m pip install "${wheel}[server]" "${SERVER_PINS[@]}"
"$PY" -c "import llama_cpp, llama_cpp.server.app; print('build_llama_cpp: ok', llama_cpp.__version__)"
echo "build_llama_cpp: done in $(( $(date +%s) - start ))s"
