"""`LocalLLM`: chat with a recai Llama-family model through its tokenizer's chat template."""
from __future__ import annotations

import threading
import time
from typing import Iterator, Sequence

from recai.errors import ContextLengthError, LLMError
from recai.llm.base import ChatStream, Completion, Constraint, check_messages, check_sampling


class LocalLLM:
    """A local model as a chat backend.

    model: a `recai.nn.llama.Llama`; tokenizer: its `recai.text.Tokenizer` (must have a chat
    template). time_limit_s: a reply stops (finish_reason "length") once it has run this long;
    None: no limit. Calls are serialised by a lock, so one instance can serve several threads.
    """

    def __init__(self, model, tokenizer, name: str = "local", time_limit_s: float | None = None, seed: int = 0):
        if tokenizer.chat_template is None:
            raise LLMError(f"{tokenizer.source}: the tokenizer has no chat template, so it cannot chat; "
                           "use an instruction-tuned model such as smollm2-135m-instruct")
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.time_limit_s = time_limit_s
        self.seed = seed
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: str, dtype: str = "float32", device: str | None = None, **kwargs) -> "LocalLLM":
        """Load a model SPEC (path, registered name, hf:ORG/NAME) with the tokenizer inside or beside it."""
        import torch

        from recai.hub import resolve
        from recai.nn.llama import Llama
        from recai.text.tokenizer import tokenizer_for_model

        path = resolve(spec)
        tokenizer = tokenizer_for_model(path)
        model = Llama.from_pretrained(path, dtype=getattr(torch, dtype), device=device).eval()
        return cls(model, tokenizer, name=kwargs.pop("name", spec), **kwargs)

    @property
    def context_length(self) -> int:
        return self.model.cfg.max_seq_len

    def count_tokens(self, messages: Sequence[dict]) -> int:
        """Prompt tokens of the conversation in this model's chat format."""
        return len(self.tokenizer.encode_chat(check_messages(messages)))

    # ---- the three calls ---------------------------------------------------------------------
    def stream_chat(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
                    stop: Sequence[str] = (), constraint: Constraint | None = None) -> ChatStream:
        check_sampling(max_tokens, temperature)
        ids = self.tokenizer.encode_chat(check_messages(messages))
        room = self.context_length - len(ids)
        if room < 1:
            raise ContextLengthError(f"the conversation has {len(ids)} tokens, more than {self.name}'s context of "
                           f"{self.context_length}; shorten it")
        cfg = self._config(ids, min(max_tokens, room), temperature, stop, constraint)
        out = ChatStream(lambda stream: self._pieces(ids, cfg, stream))
        out.prompt_tokens = len(ids)
        return out

    def complete(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
                 stop: Sequence[str] = (), constraint: Constraint | None = None) -> Completion:
        s = self.stream_chat(messages, max_tokens, temperature, stop, constraint)
        for _ in s:
            pass
        return s.completion

    def chat(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
             stop: Sequence[str] = (), constraint: Constraint | None = None) -> str:
        return self.complete(messages, max_tokens, temperature, stop, constraint).text

    def complete_many(self, conversations: Sequence[Sequence[dict]], max_tokens: int = 256,
                      temperature: float = 0.0, batch_size: int = 8) -> list[Completion]:
        """One completion per conversation, decoded `batch_size` at a time in left-padded batches
        (the same greedy text as `complete` one by one, several times the throughput on a CPU).

        Raises ContextLengthError naming the first conversation that leaves no room to answer.
        """
        from recai.generation import GenerationConfig, generate

        check_sampling(max_tokens, temperature)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        prompts = [self.tokenizer.encode_chat(check_messages(m)) for m in conversations]
        for n, ids in enumerate(prompts):
            if len(ids) >= self.context_length:
                raise ContextLengthError(f"conversation {n} has {len(ids)} tokens, more than {self.name}'s "
                                         f"context of {self.context_length}; shorten it")
        out = []
        with self._lock:
            for start in range(0, len(prompts), batch_size):
                chunk = prompts[start:start + batch_size]
                room = self.context_length - max(len(p) for p in chunk)
                cfg = GenerationConfig(max_new_tokens=min(max_tokens, room), temperature=float(temperature),
                                       seed=self.seed)
                out += [Completion(g.text, len(p), len(g.tokens), g.finish_reason)
                        for p, g in zip(chunk, generate(self.model, chunk, self.tokenizer, cfg))]
        return out

    # ---- internals ---------------------------------------------------------------------------
    def _config(self, ids, max_tokens, temperature, stop, constraint):
        from recai.generation import GenerationConfig

        processors = (constraint.processor(self.tokenizer, len(ids)),) if constraint is not None else ()
        # A fixed seed per call keeps sampled replies reproducible run to run.
        return GenerationConfig(max_new_tokens=max_tokens, temperature=float(temperature), seed=self.seed,
                                stop_strings=tuple(stop), logits_processors=processors)

    def _pieces(self, ids, cfg, out: ChatStream) -> Iterator[str]:
        from recai.generation import StreamStats, stream

        stats = StreamStats()
        deadline = None if self.time_limit_s is None else time.monotonic() + self.time_limit_s
        with self._lock:
            try:
                for piece in stream(self.model, ids, self.tokenizer, cfg, stats=stats):
                    out.completion_tokens = stats.completion_tokens
                    yield piece
                    if deadline is not None and time.monotonic() > deadline:
                        stats.finish_reason = "length"
                        break
            finally:
                out.completion_tokens = stats.completion_tokens
                out.finish_reason = stats.finish_reason
