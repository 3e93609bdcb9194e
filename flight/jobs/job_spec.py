"""JOB_START's settings: a JSON object checked on board, before the job is queued (no torch here).

The config argument is data: JSON parsed into plain values and checked field by field against this
table, so a bad value is refused at acceptance with its field named (``config.max_iters``), never
discovered by a worker minutes later. Nothing in it is evaluated or imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flight.jobs.configs import CONFIGS
from flight.link.errors import CommandError

GEMMA = "gemma3-270m"
MAX_PROMPT = 800  # characters: the command argument's own limit is 900 octets of JSON


@dataclass(frozen=True)
class Field:
    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


TRAIN = {
    "config": Field(str, "shakespeare_cpu", choices=tuple(sorted(CONFIGS))),
    "max_iters": Field(int, None, 1, 1_000_000),
    "eval_interval": Field(int, None, 1, 1_000_000),
    "seed": Field(int, 1337, 0, 2**31 - 1),
    "checkpoint_interval": Field(int, 100, 1, 1_000_000),
    "log_interval": Field(int, 10, 1, 100_000),
    "keep": Field(int, 3, 1, 20),
    "deterministic": Field(bool, False),
    # upset protection; when JOB_START leaves them out, the seu.* parameters give them
    "scrub": Field(bool, True),
    "shadow_interval": Field(int, 25, 0, 1_000_000),
    "guard": Field(bool, True),
}
INFER = {
    "model": Field(str, GEMMA),
    "prompt": Field(str, "Greetings to the ground team from orbit! The blue and green planet below"),
    "max_new_tokens": Field(int, 64, 1, 2048),
    "greedy": Field(bool, True),
    "temperature": Field(float, 0.8, 0.01, 5.0),
    "top_k": Field(int, 40, 1, 300_000),
    "seed": Field(int, 0, 0, 2**31 - 1),
    "scrub_interval": Field(float, 2.0, 0.0, 3600.0),  # seconds between weight scrubs; 0: before every token
}
KINDS = {"TRAIN": TRAIN, "INFER": INFER}


def parse_job_config(kind: str, text: str, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The complete settings of a job of ``kind`` from JOB_START's config text; CommandError names the field.

    ``defaults`` replace the table's own defaults (the supervisor's parameters), and are checked alike.
    """
    if kind not in KINDS:
        raise CommandError("kind", f"{kind!r} is not a job kind ({', '.join(KINDS)})")
    try:
        given = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise CommandError("config", f"not JSON: {exc}") from None
    if not isinstance(given, dict):
        raise CommandError("config", "must be a JSON object")
    table = KINDS[kind]
    unknown = sorted(set(given) - set(table))
    if unknown:
        raise CommandError(f"config.{unknown[0]}", f"unknown setting for a {kind} job (known: {', '.join(table)})")
    defaults = defaults or {}
    settings = {name: _check(name, spec, given.get(name, defaults.get(name, spec.default)))
                for name, spec in table.items()}
    if kind == "INFER":
        _check_model(settings["model"])
        if not settings["prompt"]:
            raise CommandError("config.prompt", "empty: give the text to continue")
    return settings


def _check(name: str, spec: Field, value: Any) -> Any:
    if value is None and spec.default is None:
        return None
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        raise CommandError(f"config.{name}", f"{value!r} is not a {spec.kind.__name__}")
    if spec.low is not None and not spec.low <= value <= spec.high:
        raise CommandError(f"config.{name}", f"{value} out of [{spec.low:g}, {spec.high:g}]")
    if spec.choices and value not in spec.choices:
        raise CommandError(f"config.{name}", f"{value!r}: one of {', '.join(spec.choices)}")
    if isinstance(value, str) and len(value) > MAX_PROMPT:
        raise CommandError(f"config.{name}", f"{len(value)} characters, at most {MAX_PROMPT}")
    return value


def _check_model(model: str) -> None:
    if model == GEMMA:
        return
    job = model.removeprefix("job:")
    if not (model.startswith("job:") and job.isascii() and job.isdigit() and 0 < int(job) < 2**32):
        raise CommandError("config.model", f"{model!r}: {GEMMA}, or job:N for training job N's checkpoint")
