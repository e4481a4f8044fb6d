#!/usr/bin/env bash
# Makes sure checkov is installed in .venv-infra at the repository root and prints the
# path of its executable. checkov pins packages (packaging, python-dateutil) older than
# the app's own virtualenv uses, so it gets a virtualenv of its own instead of .venv.
# Idempotent: a second run only checks the installed version and prints the path.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv-infra"
requirements="${repo_root}/requirements-infra.txt"
checkov="${venv}/bin/checkov"
wanted="$(sed -n 's/^checkov==\([^[:space:]]*\).*/\1/p' "${requirements}")"

python="${PYTHON:-}"
if [[ -z "${python}" ]]; then
  for candidate in python3.11 python3; do
    if command -v "${candidate}" >/dev/null 2>&1; then
      python="$(command -v "${candidate}")"
      break
    fi
  done
fi

installed=""
if [[ -x "${checkov}" ]]; then
  installed="$("${venv}/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null || true)"
fi

if [[ -z "${installed}" || ( -n "${wanted}" && "${installed}" != "${wanted}" ) ]]; then
  if [[ ! -x "${venv}/bin/python" ]]; then
    # Progress goes to stderr: stdout carries only the path callers read.
    echo "creating ${venv}" >&2
    "${python}" -m venv "${venv}" >&2
  fi
  echo "installing $(tr '\n' ' ' < <(grep -v '^#' "${requirements}")) into ${venv}" >&2
  "${venv}/bin/python" -m pip install --disable-pip-version-check --quiet -r "${requirements}" >&2
fi

echo "${checkov}"
