"""Fixtures for the BitMEX unit tests: the shared recordings, skipped with a reason when absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "bitmex"


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(
            f"shared BitMEX data not present: {path} (see shared/data/CRYPTO-PROVENANCE.md)"
        )
    return path


@pytest.fixture
def capture_path() -> Path:
    return data_file("cryptofeed_BITMEX.ws.1.0")


@pytest.fixture
def official_fixtures() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data_file("bitmex_official_fixtures.json").read_text())
    return loaded


@pytest.fixture
def nautilus_row() -> Any:
    def load(name: str) -> Any:
        return json.loads(data_file(name).read_text())

    return load
