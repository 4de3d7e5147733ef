"""recai.data.download against a real HTTP server on 127.0.0.1 serving small fixture files."""
import argparse
import gzip
import hashlib
import http.server
import io
import json
import random
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from recai.data import download as dl
from recai.data.cli_download import add_download_parser
from recai.errors import FetchError

UPSTREAM = "https://datasets.example.invalid/some/path"  # never contacted: every test uses a base URL


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileServer:
    """Serves `files[name]` at /name with Range support (206), like a static file server.

    Knobs: `drop_once` names are cut after half their body on the first request; `status` forces an
    HTTP status per name; `ignore_range` answers every request with the whole file (200).
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.drop_once: set[str] = set()
        self.status: dict[str, int] = {}
        self.ignore_range = False
        self.seen: list[tuple[str, str | None]] = []  # (name, Range header) per request
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def ranges(self, name: str) -> list[str | None]:
        return [r for n, r in self.seen if n == name]

    def _handler(self):
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                srv.seen.append((name, self.headers.get("Range")))
                code = srv.status.get(name, 200 if name in srv.files else 404)
                if code != 200:
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data, start = srv.files[name], 0
                rng = self.headers.get("Range")
                if rng and not srv.ignore_range:
                    start = int(rng.removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in srv.drop_once:
                    srv.drop_once.discard(name)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


# ---- fixture files ----


def movielens_zip(folder="ml-latest-small") -> bytes:
    """A zip laid out like ml-latest-small: one top folder with the CSVs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{folder}/", "")
        z.writestr(f"{folder}/movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n"
                                           "2,Jumanji (1995),Adventure|Fantasy\n")
        z.writestr(f"{folder}/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
                                            "1,2,3.5,964982931\n2,1,5.0,964983815\n")
    return buf.getvalue()


def reviews_gz(n=2000, seed=0) -> bytes:
    """Amazon-style JSON lines, gzipped; random review ids keep it ~tens of KB (several 1 KB chunks)."""
    rng = random.Random(seed)
    lines = [json.dumps({"reviewerID": f"A{rng.getrandbits(64):x}", "asin": f"B{i % 97:09d}", "overall": 5.0})
             for i in range(n)]
    return gzip.compress("\n".join(lines).encode(), mtime=0)


META_GZ = gzip.compress(b'{"asin": "B000000001", "title": "A game"}\n', mtime=0)
ZIP = movielens_zip()


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("RECAI_HOME", str(h))
    monkeypatch.delenv(dl.ENV_URL, raising=False)
    monkeypatch.setattr(dl, "BACKOFF_S", 0.0)
    return h


@pytest.fixture
def server():
    started = []

    def start(files):
        s = FileServer(dict(files))
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def register(monkeypatch, name, files, folder=""):
    monkeypatch.setitem(dl.REGISTRY, name, dl.Source(name, f"test dataset {name}", tuple(files),
                                                     "test terms", "https://example.invalid/", folder))


def register_movielens(monkeypatch, name="tiny-ml", sha=None, data=ZIP):
    f = dl.RemoteFile(f"{UPSTREAM}/ml-latest-small.zip", sha or sha256(data), len(data),
                      unpacks_to="ml-latest-small")
    register(monkeypatch, name, [f], folder="ml-latest-small")


def register_amazon(monkeypatch, name="tiny-amazon"):
    register(monkeypatch, name, [dl.RemoteFile(f"{UPSTREAM}/Tiny_5.json.gz"),
                                 dl.RemoteFile(f"{UPSTREAM}/meta_Tiny.json.gz")])


def leftovers(root: Path) -> list[str]:
    """Temporary files and folders a finished or failed download must not leave."""
    return sorted(p.name for p in root.rglob("*")
                  if p.name.endswith(".part") or (p.is_dir() and p.name.startswith(".")))


# ---- downloads ----


def test_zip_downloaded_verified_extracted_then_cached(home, server, monkeypatch):
    register_movielens(monkeypatch)
    srv = server({"ml-latest-small.zip": ZIP})
    out = dl.download("tiny-ml", base_url=srv.url, progress=False)
    root = home / "datasets" / "tiny-ml"
    assert out == root / "ml-latest-small"
    assert (out / "ratings.csv").read_text().splitlines()[1] == "1,1,4.0,964982703"
    assert (out / "movies.csv").read_text().startswith("movieId,title,genres\n1,Toy Story")
    assert (root / "ml-latest-small.zip").read_bytes() == ZIP  # kept, for re-verification
    assert json.loads((root / ".complete.json").read_text())["sha256"] == {"ml-latest-small.zip": sha256(ZIP)}
    assert leftovers(root) == [] and not (root / "ml-latest-small.zip.sha256").exists()

    n = len(srv.seen)
    srv.close()  # a cached call must not need the server at all
    assert dl.download("tiny-ml", base_url=srv.url, progress=False) == out
    assert len(srv.seen) == n == 1


def test_gz_kept_as_is_and_first_download_recorded(home, server, monkeypatch, capsys):
    register_amazon(monkeypatch)
    reviews = reviews_gz()
    srv = server({"Tiny_5.json.gz": reviews, "meta_Tiny.json.gz": META_GZ})
    monkeypatch.setenv(dl.ENV_URL, srv.url)  # the environment variable, not base_url
    out = dl.download("tiny-amazon", progress=False)
    assert out == home / "datasets" / "tiny-amazon"
    assert (out / "Tiny_5.json.gz").read_bytes() == reviews
    assert (out / "meta_Tiny.json.gz").read_bytes() == META_GZ
    assert (out / "Tiny_5.json.gz.sha256").read_text() == f"{sha256(reviews)}  Tiny_5.json.gz\n"
    err = capsys.readouterr().err
    assert "no sha256 is published for Tiny_5.json.gz" in err and sha256(META_GZ) in err
    assert sorted(n for n, _ in srv.seen) == ["Tiny_5.json.gz", "meta_Tiny.json.gz"]


def test_recorded_hash_refuses_a_changed_file(home, server, monkeypatch):
    register_amazon(monkeypatch)
    reviews = reviews_gz()
    srv = server({"Tiny_5.json.gz": reviews, "meta_Tiny.json.gz": META_GZ})
    out = dl.download("tiny-amazon", base_url=srv.url, progress=False)
    record = (out / "Tiny_5.json.gz.sha256").read_text()

    # The file changes upstream and the local copy is lost: the new one must match the record.
    (out / "Tiny_5.json.gz").unlink()
    srv.files["Tiny_5.json.gz"] = reviews_gz(seed=1)
    with pytest.raises(FetchError) as e:
        dl.download("tiny-amazon", base_url=srv.url, progress=False)
    msg = str(e.value)
    assert "Tiny_5.json.gz.sha256" in msg and sha256(reviews) in msg and "delete that record" in msg
    assert not (out / "Tiny_5.json.gz").exists() and leftovers(out) == []
    assert (out / "Tiny_5.json.gz.sha256").read_text() == record

    srv.files["Tiny_5.json.gz"] = reviews
    assert (dl.download("tiny-amazon", base_url=srv.url, progress=False) / "Tiny_5.json.gz").read_bytes() == reviews


def test_resume_from_part_file(home, server, monkeypatch):
    register_movielens(monkeypatch)
    srv = server({"ml-latest-small.zip": ZIP})
    root = home / "datasets" / "tiny-ml"
    root.mkdir(parents=True)
    have = len(ZIP) // 3
    (root / "ml-latest-small.zip.part").write_bytes(ZIP[:have])
    out = dl.download("tiny-ml", base_url=srv.url, progress=False)
    assert srv.ranges("ml-latest-small.zip") == [f"bytes={have}-"]
    assert (root / "ml-latest-small.zip").read_bytes() == ZIP
    assert (out / "ratings.csv").is_file() and leftovers(root) == []


def test_a_200_answer_to_a_range_restarts(home, server, monkeypatch):
    register_movielens(monkeypatch)
    srv = server({"ml-latest-small.zip": ZIP})
    srv.ignore_range = True
    root = home / "datasets" / "tiny-ml"
    root.mkdir(parents=True)
    (root / "ml-latest-small.zip.part").write_bytes(b"stale bytes from another file")
    dl.download("tiny-ml", base_url=srv.url, progress=False)
    assert srv.ranges("ml-latest-small.zip")[0] is not None  # asked to resume, got the whole file
    assert (root / "ml-latest-small.zip").read_bytes() == ZIP


def test_dropped_connection_is_retried_and_resumed(home, server, monkeypatch):
    monkeypatch.setattr(dl, "CHUNK", 1024)  # so the half body that arrived is kept in the .part
    register_amazon(monkeypatch)
    reviews = reviews_gz()
    srv = server({"Tiny_5.json.gz": reviews, "meta_Tiny.json.gz": META_GZ})
    srv.drop_once.add("Tiny_5.json.gz")
    out = dl.download("tiny-amazon", base_url=srv.url, progress=False)
    first, second = srv.ranges("Tiny_5.json.gz")
    assert first is None and second.startswith("bytes=") and second != "bytes=0-"
    assert (out / "Tiny_5.json.gz").read_bytes() == reviews


def test_gives_up_after_bounded_retries_keeping_the_part(home, server, monkeypatch):
    monkeypatch.setattr(dl, "RETRIES", 3)
    register_amazon(monkeypatch)
    srv = server({"Tiny_5.json.gz": reviews_gz(), "meta_Tiny.json.gz": META_GZ})
    srv.status["Tiny_5.json.gz"] = 503
    with pytest.raises(FetchError, match="after 3 attempts.*Check the mirror"):
        dl.download("tiny-amazon", base_url=srv.url, progress=False)
    assert len(srv.ranges("Tiny_5.json.gz")) == 3


# ---- failures ----


def test_checksum_mismatch_raises_and_deletes(home, server, monkeypatch):
    register_movielens(monkeypatch, sha="1" * 64)
    srv = server({"ml-latest-small.zip": ZIP})
    with pytest.raises(FetchError) as e:
        dl.download("tiny-ml", base_url=srv.url, progress=False)
    msg = str(e.value)
    assert "tiny-ml" in msg and "1" * 64 in msg and sha256(ZIP) in msg and srv.url in msg
    root = home / "datasets" / "tiny-ml"
    assert sorted(p.name for p in root.iterdir()) == []  # no zip, no .part, no folder, no marker


def test_registered_movielens_hash_refuses_another_file(home, server):
    """The real registry entry: a mirror serving some other ml-latest-small.zip is refused."""
    srv = server({"ml-latest-small.zip": ZIP})
    with pytest.raises(FetchError, match=f"{len(ZIP)} bytes, expected 978202"):
        dl.download("ml-latest-small", base_url=srv.url, progress=False)
    assert list((home / "datasets" / "ml-latest-small").iterdir()) == []


def test_404_names_the_url(home, server, monkeypatch):
    register_amazon(monkeypatch)
    srv = server({"meta_Tiny.json.gz": META_GZ})
    with pytest.raises(FetchError, match=rf"tiny-amazon: {srv.url}Tiny_5.json.gz not found \(404\)"):
        dl.download("tiny-amazon", base_url=srv.url, progress=False)


def test_zip_that_fails_to_extract_is_deleted_and_not_trusted(home, server, monkeypatch):
    broken = ZIP[: len(ZIP) // 2] + bytes(len(ZIP) - len(ZIP) // 2)  # right size, damaged members
    register(monkeypatch, "tiny-broken", [dl.RemoteFile(f"{UPSTREAM}/ml-latest-small.zip",
                                                        unpacks_to="ml-latest-small")], "ml-latest-small")
    srv = server({"ml-latest-small.zip": broken})
    with pytest.raises(FetchError, match=r"ml-latest-small.zip from .* failed to extract"):
        dl.download("tiny-broken", base_url=srv.url, progress=False)
    root = home / "datasets" / "tiny-broken"
    assert sorted(p.name for p in root.iterdir()) == []  # no zip, no record, no half folder


def test_error_page_instead_of_gz_is_not_trusted(home, server, monkeypatch):
    register_amazon(monkeypatch)
    srv = server({"Tiny_5.json.gz": b"<html>rate limited</html>", "meta_Tiny.json.gz": META_GZ})
    with pytest.raises(FetchError, match="did not send a gzip file"):
        dl.download("tiny-amazon", base_url=srv.url, progress=False)
    assert list((home / "datasets" / "tiny-amazon").iterdir()) == []


def test_unknown_name_lists_the_known_ones(home):
    with pytest.raises(FetchError) as e:
        dl.download("ml1m")
    msg = str(e.value)
    assert "'ml1m'" in msg and "Did you mean ml-1m" in msg and "amazon-video-games" in msg and "steam" in msg


def test_file_already_there_is_verified_not_downloaded(tmp_path, home, server, monkeypatch):
    register_movielens(monkeypatch)
    srv = server({})
    dest = tmp_path / "elsewhere"
    dest.mkdir()
    (dest / "ml-latest-small.zip").write_bytes(ZIP)  # e.g. copied from another machine
    out = dl.download("tiny-ml", dest=dest, base_url=srv.url, progress=False)
    assert out == dest / "ml-latest-small" and (out / "movies.csv").is_file()
    assert srv.seen == []


# ---- the registry and the command line ----


def test_registry():
    names = set(dl.REGISTRY)
    assert {"ml-100k", "ml-1m", "ml-latest-small", "steam", "amazon-video-games", "amazon-books",
            "amazon-toys-and-games", "amazon-sports-and-outdoors", "amazon-all-beauty"} <= names
    files = [f for s in dl.REGISTRY.values() for f in s.files]
    assert len({f.filename for f in files}) == len(files)  # a mirror is one flat folder
    assert all(f.url.startswith("https://") for f in files)
    # Published by TensorFlow Datasets (url_checksums/movielens.txt); nothing else has a hash.
    tfds = {"ml-100k.zip": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            "ml-1m.zip": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            "ml-latest-small.zip": "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"}
    assert {f.filename: f.sha256 for f in files if f.sha256} == tfds
    amazon = dl.REGISTRY["amazon-video-games"]
    assert [f.url for f in amazon.files] == [
        "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_v2/categoryFilesSmall/Video_Games_5.json.gz",
        "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_v2/metaFiles2/meta_Video_Games.json.gz"]
    lines = dl.available()
    assert len(lines) == len(names) and all(line.split()[0] in names for line in lines)


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="recai data")
    add_download_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_prints_the_path_on_stdout(home, server, monkeypatch, capsys):
    register_movielens(monkeypatch)
    srv = server({"ml-latest-small.zip": ZIP})
    assert run_cli(["download", "tiny-ml", "--base-url", srv.url, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out == f"{home / 'datasets' / 'tiny-ml' / 'ml-latest-small'}\n"


def test_cli_list(capsys):
    assert run_cli(["download", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == dl.available() and any(line.startswith("ml-1m ") for line in out)


def test_downloaded_dataset_loads_by_name(home, server, monkeypatch):
    import recai.data as rd

    register_movielens(monkeypatch)
    srv = server({"ml-latest-small.zip": ZIP})
    assert dl.local_path("tiny-ml") is None
    out = dl.download("tiny-ml", base_url=srv.url, progress=False)
    assert dl.local_path("tiny-ml") == out
    ds = rd.load("tiny-ml")
    assert ds.name == "tiny-ml" and len(ds.catalog) == 2 and len(ds.interactions) == 3
