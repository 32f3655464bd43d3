#!/usr/bin/env bash
# Peers for side-by-side benchmarks, in their own environment (never project dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-peers
.venv-peers/bin/python -m pip install -q --upgrade pip
.venv-peers/bin/python -m pip install -q betfairlightweight flumine betfair-data luno-streams "cryptofeed<3" orjson
.venv-peers/bin/python -m pip list 2>/dev/null | grep -iE "betfair|flumine|luno|cryptofeed"
