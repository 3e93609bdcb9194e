"""``ground``: the operators' command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flight.command_line import run_subcommand
from flight.dictionary import load_dictionary
from flight.link.config import LinkConfig, load_link_config
from flight.link.errors import LinkError, ZenithError
from flight.link.keys import KeyRing
from ground.archive_cli import add_archive_commands
from ground.operator_cli import add_operator_commands

KINDS = ("tc", "tm", "clcw", "cltu")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ground", description="Zenith ground segment.")
    sub = parser.add_subparsers(dest="command", required=True)

    decode = sub.add_parser(
        "decode", help="decode a frame, CLTU, CLCW or capture file into JSON, layer by layer",
        description="Print every layer as JSON: TC/TM frame, CLCW, SDLS (with --keys), space packets and PUS, "
                    "with command arguments decoded through the dictionary. Bad input: one line naming the "
                    "layer and field on stderr, exit code 2.")
    decode.add_argument("hex", nargs="?", help="the octets, in hex (spaces allowed)")
    decode.add_argument("--kind", choices=KINDS, help="what HEX is")
    decode.add_argument("--capture", type=Path, help="a capture file written by `hil link --capture` (JSON lines)")
    decode.add_argument("--keys", type=Path, help="SDLS key file: verify and decrypt protected TC frames")
    decode.add_argument("--config", type=Path, help="link configuration (frame formats, security associations)")
    decode.add_argument("--dictionary", type=Path, help="dictionary file (default: the built-in one)")
    decode.set_defaults(handler=_decode)

    keygen = sub.add_parser("keygen", help="write a new SDLS key file (mode 0600; never commit it)")
    keygen.add_argument("path", type=Path, help="where to write the key file")
    keygen.add_argument("--key-id", action="append", default=None,
                        help="key identifier to generate (repeatable; default: tc-0)")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")
    keygen.set_defaults(handler=_keygen)
    add_operator_commands(sub)
    add_archive_commands(sub)
    return parser


def _decode(args: argparse.Namespace) -> int:
    from ground.decode import Decoder

    config = load_link_config(args.config) if args.config else LinkConfig()
    decoder = Decoder(config, load_dictionary(args.dictionary), KeyRing.load(args.keys) if args.keys else None)
    if args.capture:
        from hil.link.capture import read_capture

        for record in decoder.capture(read_capture(args.capture)):
            print(json.dumps(record))
        return 0
    if not args.kind or args.hex is None:
        raise ZenithError("give --kind and HEX, or --capture FILE")
    try:
        raw = bytes.fromhex(args.hex.replace(" ", "").replace(":", ""))
    except ValueError:
        raise LinkError("hex", "not a hex string") from None
    result = getattr(decoder, args.kind)(raw)
    print(json.dumps(result, indent=2))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    if args.path.exists() and not args.force:
        raise ZenithError(f"{args.path} exists; pass --force to replace it")
    from ground.iv_state import iv_state_path, new_key_file

    new_key_file(args.path, tuple(args.key_id or ["tc-0"]))
    print(f"wrote {args.path} and {iv_state_path(args.path)} (mode 0600): keep both out of version control, "
          "and keep them together (the second says which AES-GCM nonces the keys have used)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
