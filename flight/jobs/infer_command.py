"""``flight infer``: text from Gemma 3 270M or from a trained NanoGPT checkpoint, in the foreground."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flight.jobs.job_spec import GEMMA
from flight.link.errors import ZenithError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    infer = sub.add_parser(
        "infer", help="generate text with Gemma 3 270M or a trained NanoGPT checkpoint",
        description="Encode PROMPT, run it through the model in one pass, then generate a token at a time until "
                    "EOS or the token limit. gemma3-270m: BOS first, a KV cache, in torch on CUDA when there is "
                    "one (bf16) and on the CPU otherwise (the GGUF's own quantized weights with float32 "
                    "arithmetic, which reproduces the reference's greedy ids). CHECKPOINT: a NanoGPT checkpoint "
                    "file or directory (its newest verified generation), whose file carries the model's config "
                    "and vocabulary. Prints the text, and a timing line (time to first token, decode tokens/s) "
                    "on stderr.")
    infer.add_argument("--model", required=True, metavar="gemma3-270m|CHECKPOINT", help="which model")
    infer.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    infer.add_argument("--max-new-tokens", type=int, default=64, metavar="N", help="at most N new tokens (64)")
    infer.add_argument("--greedy", action="store_true", help="always take the most likely token")
    infer.add_argument("--temperature", type=float, default=1.0, metavar="T", help="sampling temperature (1.0)")
    infer.add_argument("--top-k", type=int, default=64, metavar="K", help="sample from the K most likely (64)")
    infer.add_argument("--seed", type=int, help="seed for sampling (default: a fresh one; 0 for a checkpoint)")
    infer.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    infer.add_argument("--weights", choices=["gguf", "fp32", "bf16", "int8"],
                       help="Gemma's weight format (default: bf16 on cuda, gguf on the cpu)")
    infer.add_argument("--json", action="store_true",
                       help="print one JSON object: prompt_ids, ids, text, ttft_s, tokens_per_s, stop_reason")
    infer.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = _gemma(args) if args.model == GEMMA else _checkpoint(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(result["text"])
        print(f"{len(result['ids'])} tokens ({result['stop_reason']}): first after {result['ttft_s']:.3f} s, "
              f"then {result['tokens_per_s']:.1f} tokens/s", file=sys.stderr)
    return 0


def _gemma(args: argparse.Namespace) -> dict[str, Any]:
    from flight.jobs.gemma.decode import Sampling, generate_text

    sampling = Sampling(args.greedy, args.temperature, args.top_k, args.seed)
    return asdict(generate_text(args.prompt, args.max_new_tokens, sampling, weights=args.weights, device=args.device))


def _checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.model)
    if not path.exists():
        raise ZenithError(f"--model {args.model!r}: neither {GEMMA} nor a checkpoint file or directory")
    from flight.jobs.device import select
    from flight.jobs.nanogpt_inference import complete, load_checkpoint

    loaded = load_checkpoint(path, select(args.device).torch_device)
    result = complete(loaded, args.prompt, args.max_new_tokens, args.greedy, args.temperature, args.top_k,
                      args.seed or 0)
    return {**result, "stop_reason": "max_new_tokens"}  # a character model has no end-of-text token
