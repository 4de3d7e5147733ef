"""Convert a GGUF or llama2.c checkpoint (or an HF dir) to an HF directory that transformers loads.

    python tools/convert.py model.gguf out-dir
    python tools/convert.py stories260K.bin out-dir --tokenizer tok512.model --dtype float32

Quantised GGUF tensors are dequantised; the output holds config.json, generation_config.json,
model.safetensors and the tokenizer files (with the chat template, when the source has one).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recai.text.tokenizer import tokenizer_for_model  # noqa: E402
from recai.errors import RecaiError  # noqa: E402
from recai.nn.llama import Llama  # noqa: E402


def convert(source: Path, out: Path, tokenizer: Path | None = None, dtype: str = "float32") -> None:
    model = Llama.from_pretrained(source, dtype=getattr(torch, dtype))
    tok = tokenizer_for_model(source, tokenizer)
    model.save_pretrained(out, tokenizer=tok)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help=".gguf file, llama2.c .bin, or HF directory")
    ap.add_argument("out", type=Path, help="output directory (created)")
    ap.add_argument("--tokenizer", type=Path, help="tokenizer file when it is not beside/inside the source")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    args = ap.parse_args(argv)
    try:
        convert(args.source, args.out, args.tokenizer, args.dtype)
    except RecaiError as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
