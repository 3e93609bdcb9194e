"""The nanoGPT-style model: shapes, causality, tying, its optimiser groups and schedule, and that it learns."""

from __future__ import annotations

import math

import pytest
import torch

from flight.jobs.gpt import CONFIGS, GPT, GPTConfig, TrainConfig, learning_rate

TINY = GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)


def model(config: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(config)


def test_the_forward_pass_gives_logits_and_a_loss() -> None:
    gpt = model()
    idx = torch.randint(0, 11, (3, 16))
    logits, loss = gpt(idx, idx)
    assert logits.shape == (3, 16, 11) and loss is not None and loss.ndim == 0
    assert abs(loss.item() - math.log(11)) < 0.5  # an untrained model guesses about uniformly
    logits, loss = gpt(idx)
    assert logits.shape == (3, 1, 11) and loss is None


def test_attention_is_causal_a_token_never_sees_the_future() -> None:
    gpt = model().eval()
    idx = torch.randint(0, 11, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 11
    a, _ = gpt(idx, idx)
    b, _ = gpt(changed, changed)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-6)
    assert not torch.allclose(a[0, 10:], b[0, 10:])


def test_the_embedding_is_the_output_head() -> None:
    gpt = model()
    assert gpt.lm_head.weight is gpt.wte.weight
    assert gpt.parameter_count() == sum(p.numel() for p in set(gpt.parameters()))


def test_a_context_longer_than_the_block_is_refused() -> None:
    with pytest.raises(ValueError, match="block size"):
        model()(torch.zeros((1, 17), dtype=torch.long))


@pytest.mark.parametrize("bad", [dict(n_embd=30, n_head=4), dict(vocab_size=0), dict(dropout=1.0)])
def test_impossible_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GPTConfig(**{**TINY.as_dict(), **bad})


def test_only_matrices_are_decayed() -> None:
    gpt = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=32, bias=True))
    decayed, plain = gpt.optimizer(TrainConfig(weight_decay=0.1), "cpu").param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"]) and all(p.dim() == 1 for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(gpt.parameters()))


def test_the_learning_rate_warms_up_then_decays_along_a_cosine_to_its_floor() -> None:
    train = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=5000)
    assert learning_rate(0, train) == pytest.approx(1e-3 / 101)
    assert learning_rate(99, train) == pytest.approx(1e-3 * 100 / 101)
    assert learning_rate(100, train) == pytest.approx(1e-3)
    assert learning_rate(2550, train) == pytest.approx(5.5e-4)  # half way down the cosine
    assert learning_rate(5000, train) == learning_rate(9000, train) == 1e-4
    rates = [learning_rate(step, train) for step in range(100, 5000, 50)]
    assert rates == sorted(rates, reverse=True)


def test_the_shipped_configs_are_nanogpts_and_a_small_cpu_one() -> None:
    gpu, train = CONFIGS["shakespeare_char"]
    assert (gpu.n_layer, gpu.n_head, gpu.n_embd, gpu.block_size, gpu.dropout) == (6, 6, 384, 256, 0.2)
    assert (train.batch_size, train.learning_rate, train.min_lr, train.max_iters, train.warmup_iters,
            train.beta2) == (64, 1e-3, 1e-4, 5000, 100, 0.99)
    assert CONFIGS["shakespeare_cpu"][0].n_embd < gpu.n_embd


def test_it_learns_a_repeating_text() -> None:
    gpt = model(seed=1)
    train = TrainConfig(learning_rate=3e-3, warmup_iters=5, lr_decay_iters=80, min_lr=3e-4)
    optimizer = gpt.optimizer(train, "cpu")
    pattern = torch.tensor([[i % 7 for i in range(17)]] * 8)
    x, y = pattern[:, :-1], pattern[:, 1:]
    losses = []
    for step in range(80):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, train)
        _, loss = gpt(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), train.grad_clip)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 and losses[0] > 2.0  # from a uniform guess (ln 11 = 2.4) to nearly certain
    gpt.eval()
    out = gpt.generate(torch.tensor([[0, 1, 2]]), 8, temperature=0)
    assert out[0].tolist() == [i % 7 for i in range(11)]  # it continues the pattern


def test_sampling_is_reproducible_with_a_generator_and_respects_top_k() -> None:
    gpt = model().eval()
    start = torch.tensor([[1, 2]])
    a = gpt.generate(start, 20, temperature=1.0, top_k=3, generator=torch.Generator().manual_seed(5))
    b = gpt.generate(start, 20, temperature=1.0, top_k=3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == (1, 22)
    long = gpt.generate(torch.zeros((1, 16), dtype=torch.long), 4, temperature=0)  # past the block: windowed
    assert long.shape == (1, 20)
