"""RecLM-emb: text and item embeddings (`Embedder`) and an exact top-k item index (`ItemIndex`)."""
from recai.emb.embedder import Embedder
from recai.emb.index import ItemIndex, SearchResult

__all__ = ["Embedder", "ItemIndex", "SearchResult"]
