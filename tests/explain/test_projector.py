"""The projector and slot embeddings: gradients flow only where they should, and save/load is exact."""
import pytest
import torch

from recai.errors import CheckpointError
from recai.explain.projector import Projector, SlotEmbedding, load_slots, save_slots
from recai.explain.target import TargetModel
from recai.explain.tasks import AlignTaskBuilder
from recai.explain.train import build_task
from recai.nn.lora import LLAMA_PROJECTIONS, apply_lora
from recai.train import TrainConfig
from recai.train.loop import fit


def test_slot_ids_take_projected_vectors(tiny_model):
    slots = SlotEmbedding.install(tiny_model, Projector(8, 32))
    V = tiny_model.cfg.vocab_size
    ids = torch.tensor([[5, V, 7, V + 1]])
    v = torch.randn(2, 8)
    with slots.feeding(v):
        x = tiny_model.tok_embeddings(ids)
    assert torch.equal(x[0, 0], tiny_model.tok_embeddings.weight[5])
    assert torch.allclose(x[0, 1], slots.projector(v[0]) + slots.slot_embeddings[0], atol=1e-6)
    assert torch.allclose(x[0, 3], slots.projector(v[1]) + slots.slot_embeddings[1], atol=1e-6)
    assert tiny_model.output.weight is tiny_model.tok_embeddings.weight  # the tied head still shares
    with pytest.raises(ValueError, match="2 slot tokens but 1 vectors"):
        with slots.feeding(v[:1]):
            tiny_model(ids)
    with pytest.raises(ValueError, match="2 slot tokens but none"):
        tiny_model(ids)
    with pytest.raises(ValueError, match="already has slot embeddings"):
        SlotEmbedding.install(tiny_model, Projector(8, 32))


def test_a_target_of_another_dimension_is_refused(tiny_model):
    slots = SlotEmbedding.install(tiny_model, Projector(8, 32))
    V = tiny_model.cfg.vocab_size
    with pytest.raises(ValueError, match="reads 8-dimensional vectors, got 16 .*another dimension"):
        with slots.feeding(torch.randn(1, 16)):
            tiny_model(torch.tensor([[V]]))
    with pytest.raises(ValueError, match="writes 64-dimensional embeddings, the model needs 32"):
        SlotEmbedding.install(type(tiny_model)(tiny_model.cfg), Projector(8, 64))


def test_training_moves_only_lora_projector_and_slot_embeddings(tiny_model, tokenizer, catalog, interactions, sasrec):
    target = TargetModel(sasrec)
    seqs = interactions.sequences()
    users = [(u, [int(i) for i in seqs[u]]) for u in range(len(seqs))]
    examples = AlignTaskBuilder(catalog, target, users, "hybrid", seed=1).examples(12)
    apply_lora(tiny_model, list(LLAMA_PROJECTIONS), r=4, alpha=8)
    slots = SlotEmbedding.install(tiny_model, Projector(target.dim, 32))
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    task = build_task(examples, tokenizer, tiny_model.cfg.vocab_size, slots, target.dim)
    assert any(v.shape[0] for v in task.vectors)
    fit(tiny_model, task, TrainConfig(lr=1e-2, epochs=1, batch_size=4, warmup_steps=0, seed=0), progress=False)
    changed = {k for k, v in tiny_model.state_dict().items() if not torch.equal(v, before[k])}
    allowed = {k for k in before if "lora_" in k or k.startswith("tok_embeddings.projector.")
               or k == "tok_embeddings.slot_embeddings"}
    assert changed and changed <= allowed
    assert any(k.startswith("tok_embeddings.projector.") for k in changed)
    assert "tok_embeddings.slot_embeddings" in changed and any("lora_b" in k for k in changed)


def test_save_and_load_are_bit_exact(tiny_model, tmp_path):
    torch.manual_seed(3)
    slots = SlotEmbedding.install(tiny_model, Projector(8, 32))
    with torch.no_grad():
        slots.slot_embeddings.normal_()
    save_slots(slots, tmp_path, {"target": "sasrec"})
    fresh = type(tiny_model)(tiny_model.cfg)
    fresh.load_state_dict({k.replace("tok_embeddings.base.", "tok_embeddings."): v
                           for k, v in tiny_model.state_dict().items() if "projector" not in k and "slot_" not in k})
    loaded, config = load_slots(fresh, tmp_path)
    assert config["target"] == "sasrec" and config["in_dim"] == 8
    for (k, a), (_, b) in zip(slots.state_dict().items(), loaded.state_dict().items()):
        if not k.startswith("base."):
            assert torch.equal(a, b), k
    V = tiny_model.cfg.vocab_size
    ids, v = torch.tensor([[3, V, 9, V + 1, 4]]), torch.randn(2, 8)
    with slots.feeding(v), loaded.feeding(v):
        assert torch.equal(tiny_model(ids), fresh(ids))
    with pytest.raises(CheckpointError, match="no projector.json"):
        load_slots(type(tiny_model)(tiny_model.cfg), tmp_path / "nothing")
