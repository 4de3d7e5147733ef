"""Text: tokenizers (tokenizer.json, sentencepiece, GGUF vocabularies), chat templates, streaming."""
from recai.text.chat import render_chat
from recai.text.stream import StreamDecoder
from recai.text.tokenizer import Tokenizer

__all__ = ["Tokenizer", "StreamDecoder", "render_chat"]
