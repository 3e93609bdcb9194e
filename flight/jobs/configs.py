"""The NanoGPT model and training configs, without torch: the supervisor checks job commands against them."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.2
    bias: bool = False  # biases in linear layers and LayerNorms: none, slightly better and faster

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head) < 1 or not 0 <= self.dropout < 1:
            raise ValueError(f"impossible GPT config {self}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation side of a training job."""

    batch_size: int = 64
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 5000
    max_iters: int = 5000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 200


# nanoGPT's shakespeare_char, for a GPU (it reaches a validation loss of 1.4697 on tiny Shakespeare).
SHAKESPEARE_CHAR = (GPTConfig(vocab_size=84, block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
                    TrainConfig(batch_size=64, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100,
                                lr_decay_iters=5000, max_iters=5000, beta2=0.99))
# A model that learns something within minutes on 2 CPU cores.
SHAKESPEARE_CPU = (GPTConfig(vocab_size=84, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
                   TrainConfig(batch_size=12, learning_rate=2e-3, min_lr=2e-4, warmup_iters=20, lr_decay_iters=600,
                               max_iters=600, beta2=0.99, eval_interval=100, eval_iters=20))
CONFIGS = {"shakespeare_char": SHAKESPEARE_CHAR, "shakespeare_cpu": SHAKESPEARE_CPU}
