#!/usr/bin/env bash
# Prepares a machine for Lectern: system packages, the Python virtualenv (from the hashed
# requirements.lock), Azurite and the other Node tools from npm, then the live page's script.
# Idempotent and quick when nothing changed: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '%s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else
    step "✗ need root (or sudo) for: $*"; exit 1
  fi
}

# --- system packages (Debian), only what is missing ------------------------------------
missing=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  step "… apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "✓ system packages present (python3-venv, postgresql, redis-server, node, npm)"
fi

# --- Python virtualenv -------------------------------------------------------------------
. scripts/find_python.sh
# requirements.lock pins every package with its hashes (scripts/lock.sh, `make lock`); it must
# have been resolved from the requirement files as they are now, or what gets installed is
# not what they ask for.
lock_inputs=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if ! grep -q "^# inputs sha256: $lock_inputs " requirements.lock 2>/dev/null; then
  step "✗ requirements.lock does not match requirements.txt / requirements-dev.txt (edited since the last lock)."
  step "  Run \`make lock\` and commit requirements.lock; nothing was installed."
  exit 1
fi
if [ -x .venv/bin/python ] && ! is_wanted_python .venv/bin/python; then
  # A .venv from before the move to Python 3.13 (or any other version): made again, since
  # packages with compiled parts are built for one version.
  step "… .venv runs $(.venv/bin/python --version 2>&1), not Python $LECTERN_PYTHON: making it again"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  step "… creating .venv with $("$python_bin" --version)"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
  step "… pip install --require-hashes -r requirements.lock (a few minutes the first time)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
  printf '%s\n' "$wanted" > "$stamp"
fi
step "✓ .venv matches requirements.lock"

# --- Azurite (npm) -----------------------------------------------------------------------
npm_stamp=node_modules/.lectern-lock.sha256
npm_wanted=$(cat package.json package-lock.json clients/typescript/package.json | sha256sum | cut -d' ' -f1)
pinned=$(node -p 'require("./package.json").devDependencies.azurite')
installed=$(node -p 'try { require("./node_modules/azurite/package.json").version } catch (e) { "" }')
if [ ! -f "$npm_stamp" ] && [ "$installed" = "$pinned" ]; then
  # Installed before this script kept a stamp: adopt it rather than reinstall under a
  # running emulator.
  printf '%s\n' "$npm_wanted" > "$npm_stamp"
fi
if [ ! -x node_modules/.bin/azurite ] || [ "$(cat "$npm_stamp" 2>/dev/null || true)" != "$npm_wanted" ]; then
  step "… npm ci (Azurite, the AsyncAPI schema, the TypeScript client's workspace)"
  npm ci --no-audit --no-fund --loglevel=error
  printf '%s\n' "$npm_wanted" > "$npm_stamp"
fi
step "✓ node_modules matches package-lock.json (azurite $pinned)"

# --- the live page's script (esbuild bundle of shared_code/static/live.ts on @lectern/client) ---
# Built, not committed: rebuilt when the page's source, the client's source or the lock changed.
bundle=shared_code/static/build/live.js
bundle_stamp=shared_code/static/build/.sources.sha256
bundle_wanted=$(cat package-lock.json shared_code/static/live.ts $(find clients/typescript/src -type f | sort) | sha256sum | cut -d' ' -f1)
if [ ! -f "$bundle" ] || [ "$(cat "$bundle_stamp" 2>/dev/null || true)" != "$bundle_wanted" ]; then
  step "… npm run build (the TypeScript client, then the live page's script)"
  npm run build --silent
  printf '%s\n' "$bundle_wanted" > "$bundle_stamp"
fi
step "✓ live page script built ($bundle)"
