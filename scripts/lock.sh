#!/usr/bin/env bash
# Resolves requirements.txt and requirements-dev.txt into requirements.lock: every package
# pinned with its hashes, so `scripts/bootstrap.sh` installs exactly what was tested.
# `make lock` runs this; rerun it (and commit requirements.lock) after editing either file.
# Versions already in the lock are kept where they still fit; only what changed moves.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements.lock
step() { printf '%s\n' "$*"; }

. scripts/find_python.sh
if [ ! -x .venv/bin/python ]; then
  step "… creating .venv with $("$python_bin" --version)"
  "$python_bin" -m venv .venv
fi

# The resolver is pinned in requirements-dev.txt; it is the one tool installed before the lock
# exists, so a stale lock can always be refreshed.
uv_pin=$(grep -E '^uv==' requirements-dev.txt)
if [ "$(.venv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "${uv_pin#uv==}" ]; then
  step "… pip install $uv_pin"
  .venv/bin/python -m pip install -q --disable-pip-version-check "$uv_pin"
fi

inputs=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
step "… resolving requirements-dev.txt (with requirements.txt) into $LOCK"
# uv keeps the versions pinned in the output file where they still fit: start from the old lock.
if [ -f "$LOCK" ]; then cp "$LOCK" "$LOCK.new"; else rm -f "$LOCK.new"; fi
# Python 3.13 (what the function app is deployed on), every platform: markers decide at install time.
.venv/bin/uv pip compile requirements-dev.txt \
  --quiet --generate-hashes --no-strip-extras \
  --universal --python-version "$LECTERN_PYTHON" \
  --index-url https://pypi.org/simple \
  --custom-compile-command "make lock" \
  --output-file "$LOCK.new"
{
  # The bootstrap compares this line with the requirement files to notice a stale lock.
  printf '# inputs sha256: %s (requirements.txt + requirements-dev.txt)\n' "$inputs"
  cat "$LOCK.new"
} > "$LOCK.tmp"
rm -f "$LOCK.new"
mv "$LOCK.tmp" "$LOCK"
step "✓ $LOCK: $(grep -cE '^[A-Za-z0-9]' "$LOCK") packages pinned with hashes; commit it"
