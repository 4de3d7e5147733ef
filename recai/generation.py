"""Decoding for `recai.nn.llama` models: greedy and sampled, batched, streamed, constrained.

`generate()` returns finished sequences; `stream()` yields text as it is produced. Both run on the
same loop: prefill the prompt into a preallocated KV cache, then feed one token per step. Logits
processors (callables `(ids, logits) -> logits`) let later layers constrain the output, e.g. to
catalog titles or a JSON grammar.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (ids (B, L), logits (B, V)) -> logits


@dataclass
class GenerationConfig:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 means greedy
    top_k: int = 0  # 0 disables
    top_p: float = 1.0  # 1 disables
    repetition_penalty: float = 1.0  # 1 disables; CTRL-style: divide positive logits, multiply negative
    seed: int | None = None
    stop_ids: Sequence[int] | None = None  # None: the tokenizer's stop ids (EOS, end-of-turn)
    stop_strings: Sequence[str] = ()
    logits_processors: Sequence[LogitsProcessor] = ()

    def __post_init__(self):
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass
class Generation:
    """One finished sequence: new token ids, their text (when a tokenizer was given), and why it stopped."""

    tokens: list[int]
    text: str | None = None
    finish_reason: str = "length"  # "length" | "stop"
    prompt_tokens: int = 0
    stop_id: int | None = None  # the stop token that ended it (not in `tokens`), None otherwise


# ---- logits → next token --------------------------------------------------------------------
def apply_repetition_penalty(logits, ids, penalty: float):
    """Penalise every token already present in `ids` (B, L); logits (B, V)."""
    if penalty == 1.0 or ids.shape[1] == 0:
        return logits
    seen = torch.gather(logits, 1, ids)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(1, ids, seen)


def top_k_top_p_filter(logits, top_k: int, top_p: float):
    """Mask (to -inf) all but the top_k logits and the smallest nucleus with mass >= top_p."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the mass before it already reaches top_p; the first token always stays.
        drop = (cum - sorted_logits.softmax(-1)) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def next_tokens(logits, ids, cfg: GenerationConfig, generator) -> torch.Tensor:
    """Pick one token per row from logits (B, V) given the sequences so far ids (B, L)."""
    logits = apply_repetition_penalty(logits.float(), ids, cfg.repetition_penalty)
    for proc in cfg.logits_processors:
        logits = proc(ids, logits)
    if cfg.temperature == 0:
        return logits.argmax(-1)
    logits = top_k_top_p_filter(logits / cfg.temperature, cfg.top_k, cfg.top_p)
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


# ---- the decoding loop ----------------------------------------------------------------------
def _left_pad(prompts: list[list[int]], pad_id: int, device):
    """Left-pad prompts into ids (B, P) and a 0/1 mask (B, P)."""
    P = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), P), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(prompts), P), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        if p:
            ids[i, P - len(p):] = torch.tensor(p, dtype=torch.long, device=device)
            mask[i, P - len(p):] = 1
    return ids, mask


@torch.inference_mode()
def decode_steps(model, prompts: list[list[int]], cfg: GenerationConfig, stop_ids: set[int],
                 pad_id: int = 0) -> Iterator[torch.Tensor]:
    """Yield the next token of every row (B,) once per step, up to cfg.max_new_tokens steps.

    Rows that already stopped keep receiving `pad_id`; the caller decides when a row is done
    (stop ids are also checked here so finished rows stop influencing the loop's exit).
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token (encode with a BOS token for an empty prompt)")
    device = model.tok_embeddings.weight.device
    B = len(prompts)
    ids, mask = _left_pad(prompts, pad_id, device)
    P = ids.shape[1]
    total = P + cfg.max_new_tokens
    if total > model.cfg.max_seq_len:
        raise ValueError(f"prompt ({P} tokens) + max_new_tokens ({cfg.max_new_tokens}) exceeds the model's "
                         f"max_seq_len {model.cfg.max_seq_len}")
    ragged = bool((mask == 0).any())
    full_mask = torch.ones((B, total), dtype=torch.long, device=device)
    full_mask[:, :P] = mask
    caches = model.new_caches(B, total)
    generator = None
    if cfg.seed is not None:
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    # Prompt plus generated tokens (padding included): what repetition penalty and logits
    # processors see. Preallocated so a step writes one column instead of copying the sequence.
    history = torch.empty((B, total), dtype=torch.long, device=device)
    history[:, :P] = ids
    step_in, pos = ids, 0
    for _ in range(cfg.max_new_tokens):
        am = full_mask[:, :pos + step_in.shape[1]] if ragged else None
        logits = model(step_in, caches=caches, pos=pos, attention_mask=am, last_only=True)[:, -1]
        pos += step_in.shape[1]
        tok = next_tokens(logits, history[:, :pos], cfg, generator)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        yield tok
        done |= torch.isin(tok, stop)
        if bool(done.all()):
            return
        history[:, pos] = tok
        step_in = tok[:, None]


def _stop_string_cut(text: str, stop_strings: Sequence[str]) -> int | None:
    """Index of the earliest stop string in text, or None."""
    hits = [i for i in (text.find(s) for s in stop_strings) if i >= 0]
    return min(hits) if hits else None


def generate(model, prompts, tokenizer=None, config: GenerationConfig | None = None, **kwargs) -> list[Generation]:
    """Generate continuations for a batch of prompts.

    prompts: a string, a list of strings (encoded with `tokenizer`), a list of token ids, or a list of
        such lists; batched rows are left-padded.
    config / kwargs: GenerationConfig fields (max_new_tokens, temperature, top_k, top_p,
        repetition_penalty, seed, stop_ids, stop_strings, logits_processors).
    Returns one Generation per prompt; stop tokens and stop strings are not included in the text.
    """
    cfg = config or GenerationConfig(**kwargs)
    batch = _as_token_batch(prompts, tokenizer)
    stop_ids = _stop_ids(cfg, tokenizer, model)
    if cfg.stop_strings and tokenizer is None:
        raise ValueError("stop_strings need a tokenizer to decode the generated text")
    out = [Generation(tokens=[], prompt_tokens=len(p)) for p in batch]
    live = [True] * len(batch)
    for tok in decode_steps(model, batch, cfg, stop_ids, pad_id=_pad_id(tokenizer, model)):
        for i, t in enumerate(tok.tolist()):
            if not live[i]:
                continue
            if t in stop_ids:
                live[i], out[i].finish_reason, out[i].stop_id = False, "stop", t
                continue
            out[i].tokens.append(t)
            if cfg.stop_strings and _stop_string_cut(tokenizer.decode(out[i].tokens[-16:]), cfg.stop_strings) is not None:
                live[i], out[i].finish_reason = False, "stop"
        if not any(live):
            break
    for g in out:
        if tokenizer is not None:
            g.text = tokenizer.decode(g.tokens)
            cut = _stop_string_cut(g.text, cfg.stop_strings)
            if cut is not None:
                g.text, g.finish_reason = g.text[:cut], "stop"
    return out


@dataclass
class StreamStats:
    """Filled in by `stream()` as it runs: prompt and generated token counts, and why it stopped
    ("length" until a stop token or stop string ends it)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "length"


def stream(model, prompt, tokenizer, config: GenerationConfig | None = None, stats: StreamStats | None = None,
           **kwargs) -> Iterator[str]:
    """Yield the text of one continuation piece by piece, never splitting a UTF-8 character.

    Stop strings are honoured: text that could still turn into a stop string is held back until it
    cannot, and nothing from the stop string on is yielded. `stats`, when given, is updated in place
    (a caller that stops iterating early, e.g. on a deadline, still has the counts so far).
    """
    cfg = config or GenerationConfig(**kwargs)
    stats = stats if stats is not None else StreamStats()
    (ids,) = _as_token_batch(prompt, tokenizer)
    stats.prompt_tokens = len(ids)
    stop_ids = _stop_ids(cfg, tokenizer, model)
    decoder = tokenizer.stream()
    held = ""  # text not yet yielded because it might be the start of a stop string
    for tok in decode_steps(model, [ids], cfg, stop_ids, pad_id=_pad_id(tokenizer, model)):
        t = int(tok[0])
        if t in stop_ids:
            stats.finish_reason = "stop"
            break
        stats.completion_tokens += 1
        held += decoder.push(t)
        cut = _stop_string_cut(held, cfg.stop_strings)
        if cut is not None:
            stats.finish_reason = "stop"
            if held[:cut]:
                yield held[:cut]
            return
        keep = _longest_stop_prefix_suffix(held, cfg.stop_strings)
        if len(held) > keep:
            yield held[:len(held) - keep]
            held = held[len(held) - keep:]
    held += decoder.flush()
    cut = _stop_string_cut(held, cfg.stop_strings)
    if cut is not None:
        held, stats.finish_reason = held[:cut], "stop"
    if held:
        yield held


def _longest_stop_prefix_suffix(text: str, stop_strings: Sequence[str]) -> int:
    """Length of the longest suffix of text that is a proper prefix of some stop string."""
    best = 0
    for s in stop_strings:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best


# ---- small helpers ----------------------------------------------------------------------------
def _as_token_batch(prompts, tokenizer) -> list[list[int]]:
    if isinstance(prompts, str):
        prompts = [prompts]
    elif prompts and isinstance(prompts[0], int):
        prompts = [prompts]
    batch = []
    for p in prompts:
        if isinstance(p, str):
            if tokenizer is None:
                raise ValueError("text prompts need a tokenizer; pass token ids or a tokenizer")
            p = tokenizer.encode(p)
        batch.append([int(t) for t in p])
    return batch


def _stop_ids(cfg: GenerationConfig, tokenizer, model) -> set[int]:
    if cfg.stop_ids is not None:
        return {int(t) for t in cfg.stop_ids}
    if tokenizer is not None and getattr(tokenizer, "stop_ids", None):
        return set(tokenizer.stop_ids)
    return {model.cfg.eos_id} if model.cfg.eos_id is not None else set()


def _pad_id(tokenizer, model) -> int:
    for cand in (getattr(tokenizer, "pad_id", None), getattr(tokenizer, "eos_id", None), model.cfg.eos_id):
        if cand is not None:
            return int(cand)
    return 0
