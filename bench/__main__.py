"""``python -m bench``: run every benchmark, print the table, write bench/results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import codec, cop1_goodput, gemma_decode, power, seu, supervisor, training
from bench.harness import Record, print_table, save

BENCHMARKS = {"codec": codec.run, "cop1": cop1_goodput.run, "supervisor": supervisor.run, "training": training.run,
              "gemma": gemma_decode.run, "seu": seu.run, "power": power.run}
RESULTS = Path(__file__).with_name("results.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)} "
                                                                  "(default: all)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHMARKS)})")
    records: list[Record] = []
    for name in args.names or BENCHMARKS:
        print(f"running {name} ...", flush=True)
        records.extend(BENCHMARKS[name]())
    print()
    print_table(records)
    save(records, RESULTS)
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
