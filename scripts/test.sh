#!/usr/bin/env bash
# The test command: installs what the tests need, then runs the whole suite (slow real-model tests included).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python -m pytest "$@"
