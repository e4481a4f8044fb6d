#!/usr/bin/env bash
# Makes sure Debian's Chromium (with its driver, and a colour emoji font so the live-class
# page's reactions render) is installed and prints the path of the browser. The browser
# end-to-end test of the live-class page calls this first: browser builds downloaded by
# test tools are not reachable from here, Debian's packages are.
# Idempotent: a second run only checks and prints the path. Needs root (or sudo) the
# first time.
set -euo pipefail

browser="/usr/bin/chromium"

packages=(chromium chromium-driver fonts-noto-color-emoji)

if [[ ! -x "${browser}" || ! -x /usr/bin/chromedriver ]] || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  sudo_cmd=()
  if [[ "$(id -u)" != "0" ]]; then
    sudo_cmd=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Progress goes to stderr: stdout carries only the path callers read.
  echo "installing ${packages[*]} with apt-get" >&2
  if ! "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >&2; then
    "${sudo_cmd[@]}" apt-get update -q >&2
    "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >&2
  fi
fi

"${browser}" --version >&2
echo "${browser}"
