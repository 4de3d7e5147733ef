"""Dataset loaders: the shipped default, every supported layout, and what bad files do."""
import json

import numpy as np
import pytest

import recai.data as rd
from recai.data.loaders import recbole_ml100k
from recai.errors import DataError
from tests.conftest import shared_data_dir


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def latest_dir(tmp_path, ratings_extra=""):
    root = tmp_path / "ml"
    write(root / "movies.csv", 'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n'
                               '2,"City of Lost Children, The (1995)",Drama|Sci-Fi\n3,Nothing (2001),(no genres listed)\n')
    write(root / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,100\n1,2,3.5,50\n2,2,5.0,10\n" + ratings_extra)
    write(root / "tags.csv", "userId,movieId,tag,timestamp\n1,1,pixar,5\n2,1,pixar,6\n2,1,funny,7\n")
    return root


def test_shipped_default_is_complete():
    ds = rd.load()
    assert ds.name == "ml-latest-small"
    assert (len(ds.catalog), ds.interactions.n_users, len(ds.interactions)) == (9125, 671, 100004)
    assert ds.catalog.item("1")["title"] == "Toy Story (1995)" and "Animation" in ds.catalog.item("1")["genres"]
    readme = rd.loaders.SHIPPED / "ml-latest-small" / "README.txt"
    assert "MovieLens" in readme.read_text(encoding="utf-8")  # the license travels with the data
    info = ds.info()
    assert info["has_timestamps"] and 0.98 < info["sparsity"] < 0.99


def test_movielens_latest_layout(tmp_path):
    ds = rd.load(latest_dir(tmp_path))
    assert ds.catalog.item("1") == {"id": "1", "title": "Toy Story (1995)", "year": 1995,
                                    "genres": ["Animation", "Comedy"], "tags": ["pixar", "funny"],
                                    "imdb_id": None, "tmdb_id": None, "popularity": 1, "avg_rating": 4.0}
    assert ds.catalog.item("3")["genres"] == []
    # User 1 rated movie 2 (t=50) before movie 1 (t=100).
    assert ds.interactions.sequence(0).tolist() == [1, 0]
    assert ds.interactions.weight.tolist() == [3.5, 4.0, 5.0]


def test_malformed_rows_name_file_and_line_or_are_counted(tmp_path):
    root = latest_dir(tmp_path, ratings_extra="2,1,four,20\n2,1\n")
    with pytest.raises(DataError, match=r"ratings.csv:5: rating is not a number: 'four'"):
        rd.load(root)
    ds = rd.load(root, skip_bad=True)
    assert len(ds.interactions) == 3
    assert ds.skipped == {"ratings.csv: rating is not a number": 1, "ratings.csv: expected 4 fields": 1}


def test_unknown_item_ids_and_duplicates(tmp_path):
    root = latest_dir(tmp_path, ratings_extra="2,99,4,20\n")
    with pytest.raises(DataError, match=r"ratings.csv:5: unknown item id: '99'"):
        rd.load(root)
    assert rd.load(root, skip_bad=True).skipped == {"ratings.csv: unknown item id": 1}
    write(root / "movies.csv", "movieId,title,genres\n1,A (1990),Drama\n1,B (1991),Drama\n")
    write(root / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n")
    with pytest.raises(DataError, match=r"movies.csv:3: duplicate item id: '1' \(first at line 2\)"):
        rd.load(root)


def test_empty_and_single_user_datasets(tmp_path):
    root = latest_dir(tmp_path)
    write(root / "ratings.csv", "userId,movieId,rating,timestamp\n")
    with pytest.raises(DataError, match="no interactions found"):
        rd.load(root)
    write(root / "ratings.csv", "userId,movieId,rating,timestamp\n7,1,4,1\n7,2,4,2\n7,3,4,3\n")
    single = rd.load(root)
    assert single.interactions.n_users == 1
    assert single.split().test.targets.tolist() == [[2]]  # one user still splits; models refuse it
    write(root / "ratings.csv", "userId,movieId,rating,timestamp\n7,1,4,1\n")
    with pytest.raises(DataError, match="at least 3 events"):
        rd.load(root).split()


def test_missing_column_and_unknown_name(tmp_path):
    root = latest_dir(tmp_path)
    write(root / "ratings.csv", "user,movieId,rating,timestamp\n1,1,4,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['userId'\]"):
        rd.load(root)
    with pytest.raises(DataError, match="recai data download"):
        rd.load("no-such-dataset")
    with pytest.raises(DataError, match="no known dataset layout"):
        rd.load(tmp_path)


def test_movielens_100k_original_layout(tmp_path):
    flags = "|".join(["0", "0", "0", "1"] + ["0"] * 15)
    write(tmp_path / "u.item", f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags}\n"
                               f"2|Café (1996)|01-Jan-1996||http://y|{flags}\n", encoding="latin-1")
    write(tmp_path / "u.data", "1\t1\t5\t881250949\n1\t2\t3\t881250940\n")
    ds = rd.load(tmp_path)
    assert ds.catalog.item("2")["title"] == "Café (1996)" and ds.catalog.item("1")["genres"] == ["Animation"]
    assert ds.interactions.sequence(0).tolist() == [1, 0]


def test_movielens_1m_layout(tmp_path):
    write(tmp_path / "movies.dat", "1::Toy Story (1995)::Animation|Children's\n2::Heat (1995)::Action\n",
          encoding="latin-1")
    write(tmp_path / "ratings.dat", "1::2::4::978300760\n1::1::5::978300761\n2::1::3::978300000\n")
    ds = rd.load(tmp_path)
    assert ds.catalog.item("1")["genres"] == ["Animation", "Children's"] and ds.interactions.n_users == 2


def test_recbole_atomic_layout(tmp_path):
    write(tmp_path / "toy.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                  "u1\ti1\t4\t10\nu1\ti2\t5\t5\nu2\ti1\t1\t1\n")
    write(tmp_path / "toy.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                                 "i1\tToy Story\t1995\tAnimation Comedy\ni2\tHeat\t1995\tAction\n")
    ds = rd.load(tmp_path / "toy.inter")
    assert ds.name == "toy" and ds.catalog.item("i1") == {"id": "i1", "title": "Toy Story", "year": 1995,
                                                          "genres": ["Animation", "Comedy"]}
    assert ds.interactions.sequence(0).tolist() == [1, 0]
    write(tmp_path / "toy.inter", "user:token\titem_id:token\n")
    with pytest.raises(DataError, match="no user_id field"):
        rd.load(tmp_path / "toy.inter")


@pytest.mark.skipif(recbole_ml100k() is None, reason="recbole is not installed (it ships ML-100K)")
def test_ml100k_from_installed_recbole():
    ds = rd.load("ml-100k")
    assert (len(ds.catalog), ds.interactions.n_users, len(ds.interactions)) == (1682, 943, 100000)


@pytest.mark.skipif(not (shared_data_dir() / "datasets" / "lastfm-hetrec2011").is_dir(),
                    reason="../shared/data/datasets/lastfm-hetrec2011 is not present")
def test_lastfm_hetrec_second_domain():
    ds = rd.load(shared_data_dir() / "datasets" / "lastfm-hetrec2011")
    assert (len(ds.catalog), ds.interactions.n_users, len(ds.interactions)) == (17632, 1892, 92834)
    assert ds.catalog.item("1")["title"] == "MALICE MIZER"
    # No timestamps: file order is kept and the weight is the play count.
    assert ds.interactions.weight[0] == 13883.0 and not ds.info()["has_timestamps"]


def test_recai_layout_round_trip_both_directions(tmp_path):
    ds = rd.load(latest_dir(tmp_path))
    ds.negatives = {"1": np.array([2]), "2": np.array([0, 2])}
    out = rd.save_recai(ds, tmp_path / "recai")
    meta = [json.loads(line) for line in (out / "metadata.json").read_text().splitlines()]
    assert meta[0]["id"] == 1 and meta[0]["source_id"] == "1" and meta[1]["title"].startswith("City of Lost")
    assert (out / "sequential_data.txt").read_text() == "1 2 1\n2 2\n"
    back = rd.load(out)
    assert back.catalog.ids == ds.catalog.ids and back.catalog.item("1")["genres"] == ["Animation", "Comedy"]
    assert [s.tolist() for s in back.interactions.sequences()] == [[1, 0], [1]]
    assert back.negatives["2"].tolist() == [0, 2]


def test_recai_layout_as_recai_writes_it(tmp_path):
    write(tmp_path / "metadata.json", '{"id": 1, "title": "Portal", "tags": ["Puzzle"], "price": 9.99}\n'
                                      '{"id": 2, "title": "Doom", "Release Date": "1993"}\n')
    write(tmp_path / "sequential_data.txt", "1 1 2\n2 2\n")
    write(tmp_path / "negative_samples.txt", "1 2\n")
    ds = rd.load(tmp_path)
    assert ds.catalog.item("1") == {"id": "1", "title": "Portal", "tags": ["Puzzle"], "price": 9.99,
                                    "release_date": None}
    assert ds.negatives["1"].tolist() == [1]
    write(tmp_path / "sequential_data.txt", "1 1 3\n")
    with pytest.raises(DataError, match=r"sequential_data.txt:1: unknown item id: '3'"):
        rd.load(tmp_path)


def test_csv_and_jsonl_with_column_mapping(tmp_path):
    events = write(tmp_path / "events.csv", "uid,sku,ts,stars\nu1,A,2024-01-02,5\nu1,B,2024-01-01T10:00:00,3\n")
    items = write(tmp_path / "items.jsonl", '{"sku": "A", "name": "Alpha", "tags": ["x"], "price": 3}\n'
                                            '{"sku": "B", "name": "Beta", "tags": [], "price": 2.5}\n')
    cols = {"user": "uid", "item": "sku", "time": "ts", "rating": "stars"}
    ds = rd.load(events, columns=cols, items=items, item_columns={"id": "sku", "title": "name"})
    assert ds.catalog.schema == {"tags": "list", "price": "float"}
    assert ds.interactions.sequence(0).tolist() == [1, 0]  # B came first in time
    jl = write(tmp_path / "events.jsonl", '{"u": 1, "i": "A"}\n{"u": 1, "i": "B"}\nnot json\n')
    with pytest.raises(DataError, match=r"events.jsonl:3: invalid JSON"):
        rd.load(jl, columns={"user": "u", "item": "i"})
    ds = rd.load(jl, columns={"user": "u", "item": "i"}, skip_bad=True)
    assert ds.catalog.titles == ["A", "B"] and ds.skipped == {"events.jsonl: invalid JSON": 1}
    with pytest.raises(DataError, match="map the roles user and item"):
        rd.load(events, columns={"item": "sku"})


def test_kcore_renumbers_catalog():
    ds = rd.load()
    core = ds.kcore(5, 5)
    counts = core.interactions.item_counts()
    assert len(core.catalog) == core.interactions.n_items and counts.min() >= 5
    assert core.interactions.lengths().min() >= 5
    # Renumbering keeps identity: each kept event still points at the same item id.
    kept_ids = {ds.catalog.ids[i] for i in ds.interactions.sequence(0)}
    assert {core.catalog.ids[i] for i in core.interactions.sequence(0)} <= kept_ids


def gz(path, lines):
    import gzip

    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def test_amazon_2018_and_2014_metadata(tmp_path):
    gz(tmp_path / "meta_Beauty.json.gz", [
        json.dumps({"asin": "A1", "title": "Rose Soap", "brand": "Acme", "category": ["Beauty", "Soap"],
                    "price": "$4.50", "description": ["Smells", "nice"]}),
        str({"asin": "A2", "title": "Hair Gel", "categories": [["Beauty", "Hair"], ["Hair", "Gel"]], "price": 3.0}),
        json.dumps({"asin": "A3"}),  # no title: its reviews are dropped and counted
    ])
    gz(tmp_path / "Beauty_5.json.gz", [
        json.dumps({"reviewerID": "u1", "asin": "A2", "overall": 5.0, "unixReviewTime": 20}),
        json.dumps({"reviewerID": "u1", "asin": "A1", "overall": 4.0, "unixReviewTime": 10}),
        json.dumps({"reviewerID": "u2", "asin": "A3", "overall": 4.0, "unixReviewTime": 10}),
    ])
    ds = rd.load(tmp_path)
    assert ds.catalog.item("A1") == {"id": "A1", "title": "Rose Soap", "brand": "Acme", "categories": ["Beauty", "Soap"],
                                     "price": 4.5, "description": "Smells nice"}
    assert ds.catalog.item("A2")["categories"] == ["Beauty", "Hair", "Gel"]
    assert ds.interactions.sequence(0).tolist() == [0, 1]
    assert ds.skipped == {"Beauty_5.json.gz: item without a metadata title": 1}


def test_steam_python_literal_lines(tmp_path):
    gz(tmp_path / "steam_games.json.gz", [
        str({"id": "10", "app_name": "Portal", "genres": ["Puzzle"], "tags": ["Co-op"], "price": "Free to Play",
             "release_date": "2007-10-10", "metascore": "NA"}),
        str({"id": "20", "title": "Doom", "price": 4.99, "metascore": 90}),
    ])
    gz(tmp_path / "steam_reviews.json.gz", [
        str({"username": "gabe", "product_id": "20", "date": "2017-12-17", "text": "ok"}),
        str({"username": "gabe", "product_id": "10", "date": "2011-01-02"}),
        str({"username": "x", "product_id": "10", "date": "someday"}),
    ])
    with pytest.raises(DataError, match=r"steam_reviews.json.gz:3: review needs username, product_id and a date"):
        rd.load(tmp_path)
    ds = rd.load(tmp_path, skip_bad=True)
    portal = ds.catalog.item("10")
    assert portal["title"] == "Portal" and portal["price"] is None and portal["release_year"] == 2007
    assert ds.catalog.item("20")["metascore"] == 90 and ds.interactions.sequence(0).tolist() == [0, 1]
