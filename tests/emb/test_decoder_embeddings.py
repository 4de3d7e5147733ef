"""Decoder embeddings (RepLLaMA style): EOS appended, last real token's final hidden state, on stories260K."""
import torch

from recai.emb import Embedder
from recai.nn.llama import Llama
from recai.text import Tokenizer


def test_last_token_embeddings_equal_the_unbatched_hidden_state(stories_dir):
    model = Llama.from_pretrained(stories_dir / "stories260K.bin")
    tok = Tokenizer.from_pretrained(stories_dir / "tok512.model")
    emb = Embedder(model, tok, pooling="last", normalize=True, max_length=64, add_eos=True)
    texts = ["Once upon a time", "a cat", "The little dog ran to the park and played with a red ball all day."]
    vectors = emb.encode(texts, batch_size=3)  # right-padded together
    for text, v in zip(texts, vectors):
        ids = tok.encode(text, add_eos=True)
        assert ids[-1] == tok.eos_id
        with torch.no_grad():
            h = model.hidden(torch.tensor([ids]))[0, -1]
        torch.testing.assert_close(v, torch.nn.functional.normalize(h, dim=0), atol=1e-5, rtol=1e-5)


def test_hidden_feeds_the_output_head(stories_dir):
    model = Llama.from_pretrained(stories_dir / "stories260K.bin")
    ids = torch.tensor([[1, 45, 97, 3, 200]])
    with torch.no_grad():
        torch.testing.assert_close(model.output(model.hidden(ids)), model(ids), atol=1e-5, rtol=1e-5)
