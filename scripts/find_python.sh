# Sourced by scripts/bootstrap.sh and scripts/lock.sh: sets python_bin to a Python 3.13, the
# version the function app is deployed on (infra/bicep/modules/function-app.bicep).
# Looks on PATH, then in pyenv's and the usual prefixes; where none is found, asks uv for a
# build of its own (it downloads one), and stops with a clear message when that fails too.
LECTERN_PYTHON=3.13
LECTERN_PYTHON_TUPLE=${LECTERN_PYTHON/./, }

is_wanted_python() {
  [ -x "$1" ] && "$1" -c "import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != ($LECTERN_PYTHON_TUPLE))" >/dev/null 2>&1
}

python_bin=""
for candidate in \
    "$(command -v "python$LECTERN_PYTHON" 2>/dev/null || true)" \
    "$(command -v python3 2>/dev/null || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$LECTERN_PYTHON"*/bin/python"$LECTERN_PYTHON" \
    /usr/local/bin/python"$LECTERN_PYTHON" /usr/bin/python"$LECTERN_PYTHON" \
    .python/builds/cpython-"$LECTERN_PYTHON".*/bin/python"$LECTERN_PYTHON"; do
  if is_wanted_python "$candidate"; then python_bin=$candidate; break; fi
done

if [ -z "$python_bin" ]; then
  printf '%s\n' "… no Python $LECTERN_PYTHON found; asking uv for one (into .python/)"
  uv_venv=.python/uv
  if [ ! -x "$uv_venv/bin/uv" ]; then
    mkdir -p .python
    python3 -m venv "$uv_venv" && "$uv_venv/bin/python" -m pip install -q --disable-pip-version-check "$(grep -E '^uv==' requirements-dev.txt)" || true
  fi
  if [ -x "$uv_venv/bin/uv" ] && UV_PYTHON_INSTALL_DIR="$PWD/.python/builds" "$uv_venv/bin/uv" python install "$LECTERN_PYTHON" >/dev/null; then
    found=$(UV_PYTHON_INSTALL_DIR="$PWD/.python/builds" "$uv_venv/bin/uv" python find "$LECTERN_PYTHON")
    if is_wanted_python "$found"; then python_bin=$found; fi
  fi
fi

if [ -z "$python_bin" ]; then
  printf '%s\n' "✗ Lectern runs on Python $LECTERN_PYTHON (what its function app is deployed on); none was found and none could be installed."
  printf '%s\n' "  Install Python $LECTERN_PYTHON with venv (python$LECTERN_PYTHON on PATH), then run this again."
  exit 1
fi
