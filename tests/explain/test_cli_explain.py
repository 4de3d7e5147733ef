"""`recai train explainer` then `recai explain` end to end: a tiny decoder (SmolLM2's tokenizer), the
shipped ml-latest-small and a one-epoch SASRec target."""
import shutil

import pytest
import torch

from recai.cli import main


@pytest.fixture(scope="module")
def explainer_dir(tmp_path_factory, smollm2_gguf):
    from recai.nn.llama import Llama, LlamaConfig
    from recai.text import Tokenizer

    root = tmp_path_factory.mktemp("explainer")
    tok = Tokenizer.from_pretrained(smollm2_gguf)
    torch.manual_seed(0)
    Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=64, vocab_size=tok.vocab_size,
                      max_seq_len=1024)).save_pretrained(root / "base", tok)
    out = root / "hybrid"
    assert main(["train", "explainer", "--base", str(root / "base"), "--mode", "hybrid", "--n-train", "16",
                 "--target-epochs", "1", "--out", str(out)]) == 0
    return out


def explain(capsys, folder, *extra):
    assert main(["explain", "--explainer", str(folder), "--max-new-tokens", "8", *extra]) == 0
    return capsys.readouterr().out


def test_explanations_are_reproducible_and_the_targets_numbers_are_printed(explainer_dir, capsys):
    first = explain(capsys, explainer_dir, "--user", "12", "--item", "Heat (1995)", "--facts")
    assert first == explain(capsys, explainer_dir, "--user", "12", "--item", "Heat (1995)", "--facts")
    plain = explain(capsys, explainer_dir, "--user", "12", "--item", "Heat (1995)")
    assert first.startswith(plain)
    assert first[len(plain):].startswith("\nthe recommender's numbers: The recommender ranks Heat (1995) #")


def test_unknown_users_and_items_are_named(explainer_dir):
    with pytest.raises(SystemExit, match="user '99999' is not in ml-latest-small's training data"):
        main(["explain", "--explainer", str(explainer_dir), "--user", "99999", "--item", "Heat (1995)"])
    with pytest.raises(SystemExit, match="no item with id or title like 'zzqqxx' in ml-latest-small"):
        main(["explain", "--explainer", str(explainer_dir), "--user", "12", "--item", "zzqqxx"])


def test_a_target_of_another_dimension_is_refused(explainer_dir, tmp_path):
    from recai.data import load
    from recai.recsys import BPRMF

    swapped = tmp_path / "swapped"
    shutil.copytree(explainer_dir, swapped)
    shutil.rmtree(swapped / "target")
    split = load("ml-latest-small").split("leave-one-out")
    BPRMF(dim=16).fit(split.train, epochs=1).save(swapped / "target")
    with pytest.raises(SystemExit, match="the projector reads 64-dimensional vectors but the target model's are "
                                         "16-dimensional; use the target it was trained with"):
        main(["explain", "--explainer", str(swapped), "--user", "12", "--item", "Heat (1995)"])


def test_an_explainer_without_its_target_is_refused_not_retrained(explainer_dir, tmp_path, capsys):
    orphan = tmp_path / "orphan"
    shutil.copytree(explainer_dir, orphan)
    shutil.rmtree(orphan / "target")
    assert main(["explain", "--explainer", str(orphan), "--user", "12", "--item", "Heat (1995)"]) != 0
    assert f"{orphan / 'target'}: no saved sasrec target" in capsys.readouterr().err
