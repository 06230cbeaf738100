"""Shared fixtures: the public data sets beside the repository (``../shared``)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PUBLIC = SHARED / "data" / "public"


@pytest.fixture(scope="session")
def public_data() -> Path:
    """Path of ``../shared/data/public``; skips the test with a reason when it is absent."""
    if not PUBLIC.is_dir():
        pytest.skip(f"public data sets not found at {PUBLIC} (CI has ../shared beside the repo)")
    return PUBLIC
