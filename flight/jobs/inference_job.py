"""An inference job: Gemma 3 270M, or a trained NanoGPT checkpoint, continuing the prompt it was given.

The prompt arrives by command (JOB_START's settings), and the result goes down as job output: the
text and its token ids, time to first token and tokens per second. Gemma is the base model, so a
prompt is a beginning to complete, not a question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flight.jobs.device import Device
from flight.jobs.job_spec import GEMMA


def run_inference(settings: dict[str, Any], workdir: Path, device: Device,
                  beat: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """The completion of ``settings["prompt"]`` by ``settings["model"]``; the worker sends it down."""
    if settings["model"] == GEMMA:
        result = _gemma(settings, device.torch_device)
    else:
        from flight.jobs.nanogpt_inference import complete, load_checkpoint

        job = int(settings["model"].removeprefix("job:"))
        loaded = load_checkpoint(workdir.parent / f"job-{job}" / "checkpoints", device.torch_device)
        beat()  # the load took a while; the generation is short
        result = complete(loaded, settings["prompt"], settings["max_new_tokens"], settings["greedy"],
                          settings["temperature"], settings["top_k"], settings["seed"])
    return {key: result[key] for key in ("text", "ids", "ttft_s", "tokens_per_s")}


def _gemma(settings: dict[str, Any], device: Any) -> dict[str, Any]:
    from flight.jobs.gemma.decode import Sampling, generate_text

    sampling = Sampling(settings["greedy"], settings["temperature"], settings["top_k"], settings["seed"])
    # The prompt is data from the ground: control-token text in it stays text.
    return asdict(generate_text(settings["prompt"], settings["max_new_tokens"], sampling, device=device,
                                special=False))
