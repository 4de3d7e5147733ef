"""Training: one plain step loop (`fit`) with SFT and contrastive losses, LoRA or full fine-tuning,
atomic checkpoints with exact resume, and DDP under torchrun.

    from recai.train import TrainConfig
    from recai.train.sft import train_sft, load_sft_jsonl
    result = train_sft(model, tokenizer, load_sft_jsonl("data.jsonl"), TrainConfig(lr=2e-4, epochs=3))
"""
from recai.train.config import TrainConfig
from recai.train.loop import TrainResult, fit
from recai.train.schedule import lr_at

__all__ = ["TrainConfig", "TrainResult", "fit", "lr_at"]
