"""``flight train``: a training job in the foreground, without the link, on the jobs' own code path."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from flight.jobs.cache import cache_root
from flight.jobs.configs import CONFIGS


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    train = sub.add_parser(
        "train", help="train NanoGPT on the complete works of Shakespeare in the foreground",
        description="Runs a training job as the job worker runs it (deterministic batches, evaluation, samples, "
                    "asynchronous safetensors checkpoints with CRC-32C), without the link. Progress goes to "
                    "stderr; with --json a final JSON object (tokens_per_s, iters, train_loss, val_loss, "
                    "checkpoint) goes to stdout. The data is fetched and prepared on first use.")
    train.add_argument("--config", required=True, choices=sorted(CONFIGS),
                       help="shakespeare_char (nanoGPT's, for a GPU) or shakespeare_cpu (minutes on 2 cores)")
    train.add_argument("--max-iters", type=int, help="stop after this many iterations (default: the config's)")
    train.add_argument("--eval-interval", type=int, help="iterations between evaluations (default: the config's)")
    train.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when present, else cpu")
    train.add_argument("--ddp", type=int, default=1, metavar="N",
                       help="data-parallel over N ranks (N GPUs with NCCL, or N gloo processes on the CPU)")
    train.add_argument("--seed", type=int, default=1337, help="weights and batch order (default 1337)")
    train.add_argument("--out", type=Path, help="checkpoint directory (default: a new one under "
                                                "$ZENITH_CACHE/runs)")
    train.add_argument("--resume", action="store_true", help="continue from the newest verified checkpoint in --out")
    train.add_argument("--deterministic", action="store_true",
                       help="CUDA: deterministic kernels, so a resumed run repeats the same losses exactly "
                            "(the CPU always does)")
    train.add_argument("--checkpoint-interval", type=int, default=100, help="iterations between checkpoints")
    train.add_argument("--log-interval", type=int, default=10, help="iterations between progress lines")
    train.add_argument("--json", action="store_true", help="print the result as one JSON object")
    train.set_defaults(handler=run)


class ProgressPrinter:
    """Training reports as lines on stderr (a class, not a closure: DDP hands it to a spawned rank)."""

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        out = sys.stderr
        if kind == "progress":
            print(f"step {fields['step']:6d}  loss {fields['loss']:.4f}  {fields['tokens_per_s']:9.0f} tok/s  "
                  f"lr {fields['lr']:.2e}  mem {fields['memory'] / 2**20:.0f} MiB", file=out, flush=True)
        elif kind == "eval":
            print(f"step {fields['step']:6d}  train {fields['train_loss']:.4f}  val {fields['val_loss']:.4f}",
                  file=out, flush=True)
        elif kind == "sample":
            print(f"--- sample at step {fields['step']} ---\n{fields['text']}\n---", file=out, flush=True)
        else:
            print(f"{kind}: {json.dumps(fields)}", file=out, flush=True)


def run(args: argparse.Namespace) -> int:
    from flight.jobs.batches import TokenData
    from flight.jobs.ddp import train_ddp
    from flight.jobs.device import select
    from flight.jobs.shakespeare import prepared
    from flight.jobs.trainer import Trainer, TrainSpec

    spec = TrainSpec(config=args.config, seed=args.seed, max_iters=args.max_iters, eval_interval=args.eval_interval,
                     log_interval=args.log_interval, checkpoint_interval=args.checkpoint_interval,
                     deterministic=args.deterministic)
    spec.configs()  # a bad --max-iters is refused before any data is fetched
    out = args.out or cache_root() / "runs" / f"{args.config}-{time.strftime('%Y%m%dT%H%M%S')}"
    data_dir = prepared()
    report = ProgressPrinter()
    if args.ddp > 1:
        result = train_ddp(spec, data_dir, args.ddp, args.device, out, args.resume, report)
    else:
        device = select(args.device)
        print(f"training {args.config} on {device.describe()}, checkpoints in {out}", file=sys.stderr)
        trainer = Trainer(spec, TokenData.open(data_dir), device, out, report=report)
        if args.resume:
            trainer.resume()
        result = trainer.run()
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print(f"{result.iters} iterations, {result.tokens_per_s:.0f} tokens/s, val loss {result.val_loss}, "
              f"checkpoint {result.checkpoint}")
    return 0
