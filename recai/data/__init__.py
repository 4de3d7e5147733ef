"""Domain data: the item Catalog (SQLite), Interactions, splits, and dataset loaders.

    ds = recai.data.load()                      # the shipped MovieLens latest-small
    ds.catalog.query("SELECT title FROM items WHERE year > 2010 LIMIT 5")
    split = ds.split("leave-one-out")
"""
from recai.data.catalog import Catalog
from recai.data.dataset import Dataset
from recai.data.interactions import Interactions
from recai.data.loaders import DEFAULT, load
from recai.data.readonly import QueryResult
from recai.data.splits import EvalSet, Split, leave_one_out, temporal_split

__all__ = ["Catalog", "Dataset", "DEFAULT", "EvalSet", "Interactions", "QueryResult", "Split", "leave_one_out",
           "load", "save_recai", "temporal_split"]


def save_recai(ds: Dataset, root):
    """Write a Dataset in RecAI's layout (metadata.json, sequential_data.txt [, negative_samples.txt])."""
    from recai.data.loaders.recai_layout import save_recai as _save

    return _save(ds, root)
