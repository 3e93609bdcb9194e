"""Gemma 3 270M decoding speed per weight format, against fp32 torch measured in the same run.

Each format runs in a fresh process (spawned), so its peak RSS is its own: load, then a
warm-up generation, then ``repeats`` greedy generations of ``new_tokens`` ids from a fixed prompt with
EOS ignored (so every run decodes the same count). Reported per format: the median decode tokens/s,
the median time to first token, the load time and the peak RSS; ratios are to fp32's tokens/s.

On a shared machine other work only slows a run down, so the median is reported together with the
best run.

    python -m bench.gemma_decode            # prints the table and the ratios
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time

from bench.harness import Record, print_table

PROMPT = "Hello from orbit! To the ground team:"
FORMATS = ("fp32", "gguf", "bf16", "int8")
GGUF_TARGET = ">= 3.0"  # about 30 tokens/s where fp32 torch decodes 10


def _measure_one(weights: str, new_tokens: int, repeats: int, device: str) -> dict[str, object]:
    import torch

    from flight.jobs.device import Device
    from flight.jobs.gemma.decode import generate
    from flight.jobs.gemma.gguf_file import GGUFFile
    from flight.jobs.gemma.model import load_model
    from flight.jobs.gemma.tokenizer import GemmaTokenizer
    from flight.jobs.gemma.weights import gemma_gguf

    gguf = GGUFFile.open(gemma_gguf())
    prompt = GemmaTokenizer.from_gguf(gguf).encode(PROMPT)
    start = time.perf_counter()
    model = load_model(weights=weights, device=device, gguf=gguf)
    load_s = time.perf_counter() - start
    generate(model, prompt, max_new_tokens=8, eos_id=-1)  # warm caches and allocator
    runs = [generate(model, prompt, max_new_tokens=new_tokens, eos_id=-1) for _ in range(repeats)]
    rates = [r.tokens_per_s for r in runs]
    return {"weights": weights, "device": device, "threads": torch.get_num_threads(), "load_s": load_s,
            "tokens_per_s": statistics.median(rates), "best_tokens_per_s": max(rates),
            "ttft_s": statistics.median(r.ttft_s for r in runs),
            "peak_rss_mb": Device(torch.device("cpu")).memory_bytes() / 2**20,  # this process's own peak
            "weight_mb": model.nbytes() / 2**20, "ids": runs[0].ids}


def measure(formats: tuple[str, ...] = FORMATS, new_tokens: int = 64, repeats: int = 5,
            device: str = "cpu") -> dict[str, dict[str, object]]:
    """Per format: tokens/s (median and best), ttft, load time, peak RSS, and the ratio to fp32."""
    ctx = multiprocessing.get_context("spawn")
    results: dict[str, dict[str, object]] = {}
    for weights in ("fp32", *[f for f in formats if f != "fp32"]):  # the baseline first, always
        with ctx.Pool(1) as pool:
            results[weights] = pool.apply(_measure_one, (weights, new_tokens, repeats, device))
    base = float(results["fp32"]["tokens_per_s"])  # type: ignore[arg-type]
    for r in results.values():
        r["ratio_to_fp32"] = float(r["tokens_per_s"]) / base  # type: ignore[arg-type]
        r["same_ids_as_fp32"] = r["ids"] == results["fp32"]["ids"]
    return results


def records(results: dict[str, dict[str, object]]) -> list[Record]:
    """Harness records: tokens/s per format as a ratio to fp32 (gguf judged), ttft and peak RSS for information."""
    base = float(results["fp32"]["tokens_per_s"])  # type: ignore[arg-type]
    out = []
    for weights, r in results.items():
        rate = float(r["tokens_per_s"])  # type: ignore[arg-type]
        out.append(Record(f"gemma decode ({weights})", rate, "tokens/s", base, rate / base,
                          GGUF_TARGET if weights == "gguf" else ""))
    for weights, r in results.items():
        out.append(Record(f"gemma ttft ({weights})", float(r["ttft_s"]), "s", 0.0, 0.0, ""))  # type: ignore[arg-type]
        out.append(Record(f"gemma peak RSS ({weights})", float(r["peak_rss_mb"]), "MB", 0.0, 0.0, ""))  # type: ignore[arg-type]
    return out


def run() -> list[Record]:
    return records(measure())


def main() -> int:
    results = measure()
    for weights, r in results.items():
        print(f"{weights:5s} {r['tokens_per_s']:6.1f} tok/s (best {r['best_tokens_per_s']:.1f}, "
              f"x{r['ratio_to_fp32']:.2f} fp32)  ttft {r['ttft_s']:.3f} s  load {r['load_s']:.1f} s  "
              f"peak RSS {r['peak_rss_mb']:.0f} MB  weights {r['weight_mb']:.0f} MB  "
              f"same ids as fp32: {r['same_ids_as_fp32']}")
    print()
    print_table(records(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
