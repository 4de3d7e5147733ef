from pathlib import Path

from setuptools import find_packages, setup

# Runtime dependencies are exactly these six; everything else is an extra.
# torch is left as a floor so an already-installed build (CPU or CUDA) is kept.
RUNTIME = ["torch>=2.2", "numpy", "tokenizers>=0.19", "safetensors", "sentencepiece", "requests"]

TEST = [
    "pytest",
    # parity reference for the decoder, its tokenizer and GGUF dequantisation. Below 5.25: from 5.25 on
    # transformers requires Hugging Face's `kernels` distribution, whose import name is the same as
    # recai's top-level `kernels` package, so whichever comes first on sys.path hides the other.
    "transformers>=4.45,<5.25",
    "gguf>=0.10",  # reference GGUF reader/writer (transformers needs it for GGUF files too)
    "accelerate",  # transformers' GGUF loading path wants it
    "protobuf",  # transformers reads SentencePiece .model files through it
    "hypothesis",  # property tests of the metrics and the fuzzy matcher
    "rapidfuzz",  # reference edit distances for the fuzzy matcher
    "recbole==1.2.1",  # ships ML-100K; its metrics and SASRec layers are parity references
    "triton",  # the fused top-k kernel is tested on CPU under TRITON_INTERPRET=1
    "peft",  # LoRA adapters move both ways between recai and PEFT
    "openai",  # the real client talks to `recai serve` in tests
]

# bench/ scripts run their peers in the same process: RecBole (recsys), rapidfuzz (fuzzy), faiss (topk),
# sentence-transformers (encode), ...
BENCH = TEST + ["faiss-cpu", "sentence-transformers"]

setup(
    name="recai",
    version="0.1.0",
    description="Recommender systems powered by language models, in one lean PyTorch library",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["recai", "recai.*", "kernels", "kernels.*"]),
    include_package_data=True,
    # The embedded default dataset ships with its README (its license requires that).
    package_data={"recai.data": ["datasets/ml-latest-small/*"], "recai.agent.demos": ["*.jsonl"],
                  "recai.agent": ["planner_adapter/*"],
                  "recai.nn": ["csrc/*.cpp", "csrc/*.h"]},  # recai's CPU operators, compiled on first use
    install_requires=RUNTIME,
    extras_require={"test": TEST, "triton": ["triton"], "bench": BENCH},
    entry_points={"console_scripts": ["recai=recai.cli:main"]},
)
