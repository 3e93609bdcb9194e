"""Gemma 3 270M against an independent implementation, and the decoding machinery around it.

The fixture holds prompt ids and greedy ids from transformers (fp32, see record_greedy_reference.py);
the prompts go in as ids, so these tests do not depend on our tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from flight.jobs.gemma.decode import KVCache, Sampling, generate
from flight.jobs.gemma.model import (
    GemmaConfig,
    GemmaInputError,
    GemmaModel,
    GemmaModelError,
    attention_mask,
    default_weights,
    load_model,
)
from flight.link.errors import ZenithError

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "greedy_reference.json").read_text())
PROMPTS = {p["name"]: p for p in FIXTURE["prompts"]}

# Teacher-forced, bf16 and int8 may pick differently from the reference only where the reference
# itself nearly ties: the first step where they differ must have a top-2 margin below this (in
# logits). gguf (the default) and fp32 must not differ at all.
NEAR_TIE = {"bf16": 0.25, "int8": 0.5}


@pytest.fixture(scope="module")
def model() -> GemmaModel:
    """The CPU default: the GGUF's own quantized weights, float32 arithmetic."""
    return load_model(weights="gguf", device="cpu")


@pytest.fixture(scope="module")
def fp32() -> GemmaModel:
    return load_model(weights="fp32", device="cpu")


@pytest.fixture(scope="module", params=sorted(NEAR_TIE))
def other(request: pytest.FixtureRequest) -> GemmaModel:
    return load_model(weights=request.param, device="cpu")


def test_the_cpu_default_is_gguf_and_cuda_bf16() -> None:
    assert default_weights(torch.device("cpu")) == "gguf" and default_weights(torch.device("cuda")) == "bf16"


@pytest.mark.parametrize("name", list(PROMPTS))
def test_greedy_ids_equal_the_reference(model: GemmaModel, name: str) -> None:
    ref = PROMPTS[name]
    result = generate(model, ref["prompt_ids"], max_new_tokens=len(ref["ids"]), eos_id=FIXTURE["eos_id"])
    assert result.ids == ref["ids"]
    assert result.prompt_ids == ref["prompt_ids"]
    assert name != "long" or len(ref["prompt_ids"]) > 600  # the sliding window is crossed: early keys drop


def _first_divergence(model: GemmaModel, ref: dict) -> int | None:
    """Teacher-forced in one pass: the first step whose argmax is not the reference's next id."""
    ids = ref["prompt_ids"] + ref["ids"]
    with torch.inference_mode():
        logits = model.forward(ids[:-1], all_logits=True)[len(ref["prompt_ids"]) - 1:]
    picks = logits.argmax(-1).tolist()
    return next((i for i, (a, b) in enumerate(zip(picks, ref["ids"], strict=True)) if a != b), None)


@pytest.mark.parametrize("name", list(PROMPTS))
def test_fp32_picks_the_reference_ids_at_every_step(fp32: GemmaModel, name: str) -> None:
    assert _first_divergence(fp32, PROMPTS[name]) is None


def test_fp32_greedy_decoding_equals_the_reference(fp32: GemmaModel) -> None:
    ref = PROMPTS["code"]  # holds the fixtures' nearest tie (a margin of 0.0045 logits)
    assert generate(fp32, ref["prompt_ids"], max_new_tokens=len(ref["ids"])).ids == ref["ids"]


@pytest.mark.parametrize("name", list(PROMPTS))
def test_bf16_and_int8_differ_only_at_near_ties(other: GemmaModel, name: str) -> None:
    ref = PROMPTS[name]
    step = _first_divergence(other, ref)
    if step is not None:
        assert ref["margins"][step] < NEAR_TIE[other.weights], f"{other.weights} left the reference at {step}"


def test_cached_decoding_equals_a_full_forward(model: GemmaModel) -> None:
    prompt = PROMPTS["long"]["prompt_ids"][:516]  # past the window: the ring buffer has wrapped
    with torch.inference_mode():
        cache = KVCache(model.config, len(prompt) + 6, model.dtype, model.device)
        stepped = [model.forward(prompt, 0, cache)]
        for pos in range(len(prompt), len(prompt) + 5):
            stepped.append(model.forward([int(stepped[-1].argmax())], pos, cache))
        ids = prompt + [int(logits.argmax()) for logits in stepped]
        full = model.forward(ids[:-1], all_logits=True)[len(prompt) - 1:]
    assert full.argmax(-1).tolist() == ids[len(prompt):]
    torch.testing.assert_close(torch.stack(stepped), full, atol=2e-3, rtol=1e-4)


def _tiny_config(window: int) -> GemmaConfig:
    return GemmaConfig(n_layers=6, hidden=8, ffn=16, n_heads=2, n_kv_heads=1, head_dim=2, eps=1e-6,
                       context_length=64, sliding_window=window, rope_global_base=1e6, vocab_size=10)


@pytest.mark.parametrize("prompt_len", [1, 3, 4, 9])
def test_ring_cache_holds_exactly_the_window(prompt_len: int) -> None:
    """Keys are tagged with their position: each step must see exactly the positions pos-w+1..pos."""
    config, window = _tiny_config(4), 4
    ring = KVCache(config, 20, torch.float32, torch.device("cpu"))
    flat = KVCache(config, 20, torch.float32, torch.device("cpu"), ring=False)

    def tagged(positions: range) -> torch.Tensor:
        return torch.tensor([[p, -p] for p in positions], dtype=torch.float32)

    for cache in (ring, flat):
        for layer in range(config.n_layers):
            cache.store(layer, tagged(range(prompt_len)), tagged(range(prompt_len)))
    assert ring.keys[0].shape[0] == window and ring.keys[5].shape[0] == 20  # local ring, global full
    for pos in range(prompt_len, 20):
        for layer in (0, 5):
            seen = {}
            for name, cache in (("ring", ring), ("flat", flat)):
                keys, values = cache.append(layer, tagged(range(pos, pos + 1)), tagged(range(pos, pos + 1)), pos)
                seen[name] = sorted(int(k) for k in keys[:, 0])
                assert torch.equal(keys, values)
            first = 0 if layer == 5 else max(0, pos - window + 1)
            assert seen["ring"] == seen["flat"] == list(range(first, pos + 1))


def test_sliding_window_mask() -> None:
    mask = attention_mask(6, window=3)
    expected = torch.tensor([[1, 0, 0, 0, 0, 0],
                             [1, 1, 0, 0, 0, 0],
                             [1, 1, 1, 0, 0, 0],
                             [0, 1, 1, 1, 0, 0],
                             [0, 0, 1, 1, 1, 0],
                             [0, 0, 0, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    assert torch.equal(attention_mask(5, None), torch.ones(5, 5, dtype=torch.bool).tril())


def test_layer_pattern_and_config(model: GemmaModel) -> None:
    c = model.config
    assert (c.n_layers, c.hidden, c.ffn, c.n_heads, c.n_kv_heads, c.head_dim) == (18, 640, 2048, 4, 1, 256)
    assert c.sliding_window == 512 and c.rope_global_base == 1e6 and c.vocab_size == 262_144
    assert [i for i in range(c.n_layers) if c.window(i) is None] == [5, 11, 17]


def test_sampling_is_reproducible_with_a_seed(model: GemmaModel) -> None:
    prompt = PROMPTS["orbit"]["prompt_ids"]
    runs = [generate(model, prompt, max_new_tokens=6, sampling=Sampling(greedy=False, temperature=1.0, top_k=40,
                                                                         seed=seed)) for seed in (7, 7, 8)]
    assert runs[0].ids == runs[1].ids
    assert runs[2].ids != runs[0].ids and len(runs[2].ids) == 6


def test_stops_at_eos(model: GemmaModel) -> None:
    ref = PROMPTS["orbit"]
    stop_at = ref["ids"][3]  # pretend the fourth greedy id is EOS
    result = generate(model, ref["prompt_ids"], max_new_tokens=32, eos_id=stop_at)
    assert result.stop_reason == "eos"
    assert result.ids == ref["ids"][:4]
    limited = generate(model, ref["prompt_ids"], max_new_tokens=2)
    assert limited.stop_reason == "max_new_tokens" and len(limited.ids) == 2
    assert limited.ttft_s > 0 and limited.tokens_per_s > 0


@pytest.mark.parametrize("ids", [[], [2, -1], [2, 262_144]])
def test_bad_ids_are_typed_errors(model: GemmaModel, ids: list[int]) -> None:
    with pytest.raises(GemmaInputError):
        generate(model, ids, max_new_tokens=1)


def test_prompt_longer_than_the_context_is_a_typed_error(model: GemmaModel) -> None:
    with pytest.raises(ZenithError):
        generate(model, [2] * (model.config.context_length + 1), max_new_tokens=1)


def test_bad_settings_are_typed_errors() -> None:
    with pytest.raises(GemmaModelError):
        load_model(weights="int3", device="cpu")
    with pytest.raises(GemmaInputError):
        Sampling(greedy=False, temperature=0.0)


def test_flight_infer_prints_the_reference_greedy_ids(capsys: pytest.CaptureFixture[str]) -> None:
    from flight.cli import main

    ref = PROMPTS["orbit"]
    assert main(["infer", "--model", "gemma3-270m", "--prompt", ref["text"], "--greedy", "--max-new-tokens", "6",
                 "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prompt_ids"] == ref["prompt_ids"] and out["ids"] == ref["ids"][:6]
    assert out["text"] and out["ttft_s"] > 0 and out["tokens_per_s"] > 0


def test_flight_infer_refuses_other_models(capsys: pytest.CaptureFixture[str]) -> None:
    from flight.cli import main

    assert main(["infer", "--model", "nanogpt-shakespeare", "--prompt", "x"]) == 2
    assert "neither gemma3-270m nor a checkpoint" in capsys.readouterr().err
