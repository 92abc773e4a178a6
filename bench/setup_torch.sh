#!/usr/bin/env bash
# Sets up the PyTorch side of `deno task bench`: a virtual environment `.venv` at the repository
# root with the CPU build of PyTorch (torch 2.13.0+cpu by default, about 900 MB on disk).
#
# pip installs from whatever index and wheel folders pip is configured with (pip.conf, PIP_*
# variables); the CPU wheel is not on the main index, so point pip at a mirror or at PyTorch's
# CPU wheel index through TORCH_PIP_ARGS when it is not configured. When that fails, Debian's
# python3-torch (1.13) is the fallback: the bench uses /usr/bin/python3 when it imports torch, and
# `--apt` installs that package (root, apt-get) when pip cannot.
#
# Idempotent: when .venv already imports torch it says so and exits.
#
# Usage: bash bench/setup_torch.sh [--apt]        (or: deno task setup:torch)
# Environment: TORCH_SPEC (default "torch==2.13.0+cpu"), TORCH_PIP_ARGS (extra pip arguments).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0+cpu}"
USE_APT=0
for arg in "$@"; do
  case "$arg" in
    --apt) USE_APT=1 ;;
    -h | --help)
      sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup:torch: unknown argument \"$arg\"" >&2
      exit 2
      ;;
  esac
done

torch_version() {
  "$1" -W ignore -c "import torch; print(torch.__version__)" 2>/dev/null
}

if [ -x "$VENV/bin/python" ] && version="$(torch_version "$VENV/bin/python")"; then
  echo "setup:torch: $VENV already has torch $version"
  exit 0
fi

if ! command -v python3 >/dev/null; then
  echo "setup:torch: python3 is missing; install it (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/pip" ]; then
  echo "setup:torch: creating $VENV"
  if ! python3 -m venv "$VENV"; then
    echo "setup:torch: cannot create a venv; install python3-venv (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi

echo "setup:torch: installing $TORCH_SPEC into $VENV"
# One retry: an index that cannot be reached fails fast instead of retrying five times per package.
# shellcheck disable=SC2086 # TORCH_PIP_ARGS is a list of arguments on purpose.
if "$VENV/bin/pip" install --retries 1 ${TORCH_PIP_ARGS:-} "$TORCH_SPEC"; then
  echo "setup:torch: $VENV has torch $(torch_version "$VENV/bin/python")"
  exit 0
fi

echo "setup:torch: pip could not install $TORCH_SPEC" >&2
if version="$(torch_version /usr/bin/python3)"; then
  echo "setup:torch: falling back to Debian's torch $version in /usr/bin/python3 (the bench finds it)"
  exit 0
fi
if [ "$USE_APT" = 1 ]; then
  echo "setup:torch: installing Debian's python3-torch"
  apt-get install -y python3-torch
  echo "setup:torch: /usr/bin/python3 has torch $(torch_version /usr/bin/python3)"
  exit 0
fi
echo "setup:torch: set TORCH_PIP_ARGS to an index that has the CPU wheel, or run with --apt" \
  "to install Debian's python3-torch" >&2
exit 1
