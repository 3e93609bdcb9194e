"""An inference job: Gemma 3 270M, or a trained NanoGPT checkpoint, continuing the prompt it was given.

The prompt arrives by command (JOB_START's settings), and the result goes down as job output: the
text and its token ids, time to first token and tokens per second. Gemma is the base model, so a
prompt is a beginning to complete, not a question.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flight.jobs.device import Device
from flight.jobs.job_spec import GEMMA
from flight.seu.weight_scrubber import Report, WeightScrubber, resident_tensors


def run_inference(settings: dict[str, Any], workdir: Path, device: Device,
                  beat: Callable[[], None] = lambda: None, report: Report = lambda _kind, _fields: None,
                  scrub_asked: Callable[[], bool] = lambda: False,
                  inject: Callable[[dict[str, Any], int], None] = lambda _tensors, _token: None) -> dict[str, Any]:
    """The completion of ``settings["prompt"]`` by ``settings["model"]``; the worker sends it down.

    The weights are sealed once loaded and scrubbed between tokens every ``scrub_interval`` seconds
    (or when ``scrub_asked``: SCRUB_NOW); a damaged block is repaired from the GGUF or the checkpoint
    on disk, and the generation goes on. ``inject`` gets the weights before each scrub: the bench's upsets.
    """
    if settings["model"] == GEMMA:
        from flight.jobs.gemma.decode import Sampling, generate, open_gemma
        from flight.jobs.gemma.model import build_model

        gguf, tokenizer, model = open_gemma(device=device.torch_device)
        scrubber = WeightScrubber(
            resident_tensors(model),
            lambda: resident_tensors(build_model(gguf.metadata, gguf.tensors, model.weights, model.device)),
            settings["scrub_interval"], report)
        beat()  # the load took a while
        sampling = Sampling(settings["greedy"], settings["temperature"], settings["top_k"], settings["seed"])
        # The prompt is data from the ground: control-token text in it stays text.
        prompt = tokenizer.encode(settings["prompt"], add_bos=True, special=False)
        result = asdict(generate(model, prompt, settings["max_new_tokens"], sampling, tokenizer,
                                 eos_id=tokenizer.eos_id, each_token=_between_tokens(scrubber, beat, scrub_asked, inject)))
    else:
        from flight.jobs.nanogpt_inference import complete, load_checkpoint

        job = int(settings["model"].removeprefix("job:"))
        checkpoints = workdir.parent / f"job-{job}" / "checkpoints"
        loaded = load_checkpoint(checkpoints, device.torch_device)
        scrubber = WeightScrubber(resident_tensors(loaded.model),
                                  lambda: resident_tensors(load_checkpoint(checkpoints, device.torch_device).model),
                                  settings["scrub_interval"], report)
        beat()
        result = complete(loaded, settings["prompt"], settings["max_new_tokens"], settings["greedy"],
                          settings["temperature"], settings["top_k"], settings["seed"],
                          _between_tokens(scrubber, beat, scrub_asked, inject))
    scrubber.scrub(len(result["ids"]))  # the weights the answer came from, checked once more
    return {key: result[key] for key in ("text", "ids", "ttft_s", "tokens_per_s")}


def _between_tokens(scrubber: WeightScrubber, beat: Callable[[], None], scrub_asked: Callable[[], bool],
                    inject: Callable[[dict[str, Any], int], None]) -> Callable[[], None]:
    tokens = itertools.count(1)

    def each_token() -> None:
        beat()
        token = next(tokens)
        inject(scrubber.tensors, token)
        if scrub_asked():
            scrubber.scrub(token)
        else:
            scrubber.maybe_scrub(token)

    return each_token
