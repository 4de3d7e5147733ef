"""`recai generate` end to end: the stories260K golden output, and errors a user can act on."""
import shutil
import subprocess
import sys

import pytest


def recai(*args, **kw):
    exe = shutil.which("recai")
    cmd = [exe] if exe else [sys.executable, "-m", "recai"]
    return subprocess.run(cmd + list(args), capture_output=True, **kw)


def test_stories260k_greedy_200_tokens_byte_for_byte(stories_dir):
    res = recai("generate", "--model", str(stories_dir / "stories260K.bin"), "--prompt", "",
                "--max-new-tokens", "200")
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == (stories_dir / "expected_greedy_200.txt").read_bytes()


def test_explicit_tokenizer_and_prompt(stories_dir):
    res = recai("generate", "--model", str(stories_dir / "stories260K.bin"), "--tokenizer",
                str(stories_dir / "tok512.model"), "--prompt", "Once upon a time", "--max-new-tokens", "20")
    assert res.returncode == 0, res.stderr.decode()
    assert len(res.stdout.decode().split()) >= 5


def test_sampling_is_reproducible_with_seed(stories_dir):
    args = ("generate", "--model", str(stories_dir / "stories260K.bin"), "--prompt", "Tom", "--max-new-tokens", "30",
            "--temperature", "1.0", "--top-p", "0.9", "--seed", "7")
    a, b = recai(*args), recai(*args)
    assert a.returncode == 0 and a.stdout == b.stdout


def test_missing_tokenizer_is_a_clear_error(tmp_path, stories_dir):
    shutil.copy(stories_dir / "stories260K.bin", tmp_path / "model.bin")
    res = recai("generate", "--model", str(tmp_path / "model.bin"), "--prompt", "hi")
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "no tokenizer found" in err and "model.bin" in err and "--tokenizer" in err


def test_unknown_model_spec_is_a_clear_error(tmp_path):
    res = recai("generate", "--model", "no-such-model", "--prompt", "hi")
    assert res.returncode == 2
    assert "no-such-model" in res.stderr.decode()


def test_fetch_list_names_registered_models():
    res = recai("fetch", "--list")
    assert res.returncode == 0
    assert "smollm2-135m-instruct" in res.stdout.decode().split()


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"], ["fetch", "--help"]])
def test_help(argv):
    res = recai(*argv)
    assert res.returncode == 0 and b"usage" in res.stdout
