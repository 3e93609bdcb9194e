"""``ground jobs``: start, follow and steer the payload's GPU jobs through the running station.

``train`` and ``infer`` build JOB_START's settings from options (the payload checks them again);
``list`` asks the payload for its jobs (JOB_STATUS); ``pause``, ``resume`` and ``abort`` steer one;
``show`` prints what a job sent down, from the archive: its loss curve, its samples, its answer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from flight.jobs.configs import CONFIGS
from flight.jobs.job_spec import GEMMA
from flight.mission_config import load_mission
from ground.api import AssertionFailed, StationClient

EXIT_FAILED = 1
POLL = 0.5
JOB_SERVICE, STATUS, PROGRESS, SAMPLE, OUTPUT = 130, 1, 2, 3, 4


def add_jobs_commands(sub: argparse._SubParsersAction[Any]) -> None:
    jobs = sub.add_parser("jobs", help="the payload's GPU jobs: train, infer, list, show, pause, resume, abort",
                          description="Start NanoGPT training or inference (Gemma 3, or a trained checkpoint) on "
                                      "the payload, follow it, and steer it. Job numbers come from the "
                                      "JOB_QUEUED event.")
    actions = jobs.add_subparsers(dest="action", required=True)
    train = actions.add_parser("train", help="queue a NanoGPT training job on the complete works")
    train.add_argument("--model-config", dest="model_config", default="shakespeare_cpu", choices=sorted(CONFIGS),
                       help="model and training config (default shakespeare_cpu)")
    train.add_argument("--max-iters", type=int, help="iterations (default: the config's)")
    train.add_argument("--seed", type=int, help="weights and batch order")
    train.add_argument("--checkpoint-interval", type=int, help="iterations between checkpoints")
    train.add_argument("--log-interval", type=int, help="iterations between progress reports")
    infer = actions.add_parser("infer", help="queue an inference job: the payload continues PROMPT")
    infer.add_argument("prompt", help="the text to continue (the base model completes, it does not chat)")
    infer.add_argument("--model", default=GEMMA, help=f"{GEMMA} (default), or job:N for training job N's checkpoint")
    infer.add_argument("--max-new-tokens", type=int, help="at most this many tokens (default 64)")
    infer.add_argument("--sample", action="store_true", help="sample (temperature, top-k) instead of greedy")
    infer.add_argument("--temperature", type=float, help="sampling temperature (default 0.8)")
    infer.add_argument("--seed", type=int, help="sampling seed")
    listing = actions.add_parser("list", help="ask the payload for its jobs and print them")
    show = actions.add_parser("show", help="what job N sent down: progress, evaluations, samples, its answer")
    show.add_argument("job", type=int)
    show.add_argument("--follow", action="store_true", help="keep printing as more arrives")
    steer = []
    for name, text in (("pause", "pause job N between steps (training checkpoints first)"),
                       ("resume", "resume paused or suspended job N"), ("abort", "stop job N for good")):
        action = actions.add_parser(name, help=text)
        action.add_argument("job", type=int)
        steer.append(action)
    for action in (train, infer, listing, show, *steer):
        action.add_argument("--config", type=Path, help="mission config (TOML); default: bench defaults")
        action.add_argument("--json", action="store_true", help="JSON lines instead of tables")
        action.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the payload (60)")
    jobs.set_defaults(handler=_jobs)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """JOB_START's settings from the options given (the others keep the payload's defaults)."""
    if args.action == "train":
        given = {"config": args.model_config, "max_iters": args.max_iters, "seed": args.seed,
                 "checkpoint_interval": args.checkpoint_interval, "log_interval": args.log_interval}
    else:
        given = {"model": args.model, "prompt": args.prompt, "max_new_tokens": args.max_new_tokens,
                 "greedy": not args.sample, "temperature": args.temperature, "seed": args.seed}
    return {key: value for key, value in given.items() if value is not None}


def _jobs(args: argparse.Namespace) -> int:
    with StationClient(load_mission(args.config)) as gs:
        if args.action in ("train", "infer"):
            return _start(gs, args)
        if args.action == "list":
            return _list(gs, args)
        if args.action == "show":
            return _show(gs, args)
        return _steer(gs, args)


def _start(gs: StationClient, args: argparse.Namespace) -> int:
    after = gs.archive.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]
    result = gs.send("JOB_START", {"kind": args.action.upper(), "config": json.dumps(settings(args))},
                     timeout=args.timeout)
    if not result.ok:
        failure = result.failure
        print(f"JOB_START refused: {failure.stage} failed, field {failure.field}")  # type: ignore[union-attr]
        return EXIT_FAILED
    queued = gs.assert_event("JOB_QUEUED", timeout=args.timeout, after_id=after)
    job = queued.arguments["job"]
    print(json.dumps({"job": job}) if args.json else f"job {job} queued ({args.action}); "
          f"follow it with: ground jobs show {job} --follow")
    return 0


def _steer(gs: StationClient, args: argparse.Namespace) -> int:
    result = gs.send(f"JOB_{args.action.upper()}", {"job": args.job}, timeout=args.timeout)
    if not result.ok:
        print(f"JOB_{args.action.upper()} {args.job} failed ({result.failure.field})")  # type: ignore[union-attr]
        return EXIT_FAILED
    print(json.dumps({"job": args.job, "done": args.action}) if args.json else f"job {args.job}: {args.action} done")
    return 0


def _list(gs: StationClient, args: argparse.Namespace) -> int:
    try:
        jobs = gs.ask_report("JOB_STATUS", {"job": 0}, JOB_SERVICE, STATUS, args.timeout)["jobs"]
    except AssertionFailed as exc:
        print(exc)
        return EXIT_FAILED
    if args.json:
        for job in jobs:
            print(json.dumps(job))
        return 0
    table = Table(title=f"payload jobs ({len(jobs)})")
    for column in ("job", "kind", "state", "step", "loss", "val loss", "attempts", "device", "reason"):
        table.add_column(column)
    for job in jobs:
        table.add_row(str(job["job"]), job["kind"], job["state"], str(job["step"]), _number(job["loss"]),
                      _number(job["val_loss"]), str(job["attempts"]), job["device"], job["reason"])
    Console().print(table)
    return 0


def _show(gs: StationClient, args: argparse.Namespace) -> int:
    seen = 0
    while True:
        found = [r for subtype in (PROGRESS, SAMPLE, OUTPUT) for r in gs.archive.reports(JOB_SERVICE, subtype, seen)
                 if r.body.get("job") == args.job]
        for record in sorted(found, key=lambda r: r.packet_id):
            _print_output(record.subtype, record.body, args.json)
            seen = max(seen, record.packet_id)
        if not args.follow:
            return 0
        time.sleep(POLL)


def _print_output(subtype: int, body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(body))
    elif subtype == PROGRESS and body["kind"] == "progress":
        print(f"step {body['step']:6d}  loss {body['loss']:.4f}  {body['tokens_per_s']:8.0f} tok/s  "
              f"lr {body['lr']:.2e}  mem {body['memory'] / 2**20:.0f} MiB")
    elif subtype == PROGRESS:
        print(f"step {body['step']:6d}  train {body['train_loss']:.4f}  val {body['val_loss']:.4f}")
    elif subtype == SAMPLE:
        print(f"--- sample at step {body['step']} ---\n{body['text']}\n---")
    else:
        note = f" (truncated; the whole text is in {body['file']})" if body.get("truncated") else ""
        print(f"--- answer: {len(body['ids'])} tokens, first after {body['ttft_s']:.2f} s, "
              f"{body['tokens_per_s']:.1f} tokens/s{note} ---\n{body['text']}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
