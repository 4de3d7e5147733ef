"""`recai embed`: build an item index from a dataset's catalog or a text file, or query one.

Progress goes to stderr; query results go to stdout, one `rank  score  id  [title]` line each.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_embed_parser(sub) -> None:
    p = sub.add_parser(
        "embed", help="embed texts or a catalog into an item index, or search an index",
        description="Build: embed every item of a dataset's catalog (title and list attributes such as genres)\n"
                    "or every line of a text/JSONL file, and save vectors + ids as one .safetensors ItemIndex.\n"
                    "Search: embed --query texts and print the exact top-k items of an index.",
        epilog="examples:\n"
               "  recai embed --dataset ml-latest-small --out movies.safetensors\n"
               "  recai embed --input texts.txt --out texts.safetensors          # ids are line numbers\n"
               "  recai embed --input items.jsonl --text-field description --id-field sku --out items.safetensors\n"
               "  recai embed --index movies.safetensors --dataset ml-latest-small --query \"space robots\" -k 5\n"
               "  recai embed --model path/to/bge-small --dataset ml-1m --device cuda --out ml1m.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm-l6",
                   help="registered name, HF folder (BERT family or Llama family) or .gguf (default minilm-l6)")
    p.add_argument("--dataset", help="dataset name or path (see `recai data info`): its catalog is embedded, "
                                     "or with --index, its titles are shown beside the hits")
    p.add_argument("--input", help="text file (one text per line; '-' reads stdin) or .jsonl to embed")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text (default text)")
    p.add_argument("--id-field", default=None, help="JSONL field holding the id (default: line number)")
    p.add_argument("--out", type=Path, help="where to write the ItemIndex (.safetensors)")
    p.add_argument("--index", type=Path, help="an ItemIndex to search with --query")
    p.add_argument("--query", action="append", default=[], help="text to search for (repeatable)")
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="most texts per forward pass (default 64)")
    p.add_argument("--max-tokens", type=int, default=4096,
                   help="most padded tokens per forward pass; long texts go in smaller batches (default 4096)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_embed)


def cmd_embed(args) -> int:
    if args.index is not None:
        return _search(args)
    if args.out is None or (args.dataset is None) == (args.input is None):
        raise ValueError("to build an index give --out and exactly one of --dataset or --input; "
                         "to search give --index and --query")
    from recai.emb import ItemIndex

    texts, ids = _catalog_texts(args.dataset) if args.dataset else _file_texts(args)
    if not texts:
        raise ValueError(f"{args.dataset or args.input}: nothing to embed")
    embedder = _embedder(args)
    _note(f"{embedder}: embedding {len(texts)} texts")
    show = not args.quiet and sys.stderr.isatty()  # a \r-redrawn line only makes sense on a terminal
    index = ItemIndex.build(embedder, texts, ids, batch_size=args.batch_size, max_tokens=args.max_tokens,
                            progress=show)
    index.save(args.out)
    _note(f"saved {len(index)} x {index.dim} vectors to {args.out}")
    return 0


def _search(args) -> int:
    from recai.emb import ItemIndex

    if not args.query:
        raise ValueError("--index needs at least one --query")
    index = ItemIndex.load(args.index)
    embedder = _embedder(args)
    if embedder.dim != index.dim:
        raise ValueError(f"{args.index} holds {index.dim}-d vectors but {args.model} makes {embedder.dim}-d ones; "
                         "search with the model that built the index")
    titles = {}
    if args.dataset:
        import recai.data as rd

        cat = rd.load(args.dataset).catalog
        titles = dict(zip(cat.ids, cat.values("title")))
    hits = index.search(embedder.encode(args.query, max_tokens=args.max_tokens), k=min(args.k, len(index)))
    for query, ids, scores in zip(args.query, hits.ids, hits.scores.tolist()):
        print(f"# {query}")
        for rank, (item_id, score) in enumerate(zip(ids, scores), 1):
            print(f"{rank:3d}  {score:.4f}  {item_id}  {titles.get(item_id, '')}".rstrip())
    return 0


def _embedder(args):
    import torch

    from recai.emb import Embedder

    return Embedder.from_pretrained(args.model, dtype=getattr(torch, args.dtype), device=args.device)


def _catalog_texts(dataset: str) -> tuple[list[str], list[str]]:
    import recai.data as rd
    from recai.emb.tasks import catalog_texts

    cat = rd.load(dataset).catalog
    return catalog_texts(cat), list(cat.ids)


def _file_texts(args) -> tuple[list[str], list[str]]:
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    with source:
        lines = source.read().splitlines()
    if not str(args.input).endswith(".jsonl"):
        return lines, [str(n) for n in range(1, len(lines) + 1)]  # ids are 1-based line numbers
    texts, ids = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{args.input}:{n}: not valid JSON: {e}") from e
        missing = [f for f in (args.text_field, args.id_field) if f and not (isinstance(row, dict) and f in row)]
        if missing:
            raise ValueError(f"{args.input}:{n}: no field {missing[0]!r} (choose it with --text-field / --id-field)")
        texts.append(str(row[args.text_field]))
        ids.append(str(row[args.id_field]) if args.id_field else str(n))
    return texts, ids


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
