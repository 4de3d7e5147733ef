"""RecLM-gen's catalog-constrained decoding (DESIGN.md's `gen/` entry point).

The trie and its logits processor live in `recai.text.title_trie`, below the pillars, because the
RecExplainer evaluation decodes under the same constraint and pillars do not import each other.
"""
from recai.text.title_trie import TitleConstraint, TitleProcessor, TitleTrie, batched

__all__ = ["TitleConstraint", "TitleProcessor", "TitleTrie", "batched"]
