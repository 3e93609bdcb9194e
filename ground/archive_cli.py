"""``ground export csv`` and ``ground plot``: the archive's telemetry as a table or a picture, for
reports and for people working without a browser; and ``ground export xtce``, the dictionary for
another console (:mod:`ground.xtce_export`).

Both read the station's archive directly (read-only, as the scripting API does), so they work while
the station runs, after it stopped, and on a copy of its file. A time range is ``--from``/``--to``
(:mod:`ground.time_arg`); both ends are inclusive. Files are written atomically.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import struct
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flight.atomic_file import write_atomic
from flight.dictionary import load_dictionary
from flight.dictionary.model import Channel
from flight.link.errors import ZenithError
from flight.mission_config import load_mission
from ground.archive import Archive
from ground.station_config import ground_settings
from ground.time_arg import FORMS, parse_time
from ground.xtce_export import export_xtce

CSV_COLUMNS = ("time_utc", "time", "channel", "value")


def add_archive_commands(sub: argparse._SubParsersAction[Any]) -> None:
    export = sub.add_parser("export", help="the archive or the dictionary in another format")
    kinds = export.add_subparsers(dest="kind", required=True)
    table = kinds.add_parser("csv", help="telemetry values as CSV, one row per value",
                             description="Every archived value of the channels in the range, oldest first, "
                                         f"as CSV with the columns {', '.join(CSV_COLUMNS)}.")
    _channels_and_range(table)
    table.add_argument("-o", "--output", type=Path, help="write to this file (default: standard output)")
    table.set_defaults(handler=_export_csv)
    xtce = kinds.add_parser("xtce", help="the dictionary as XTCE 1.2, for Yamcs or COSMOS",
                            description="Telemetry (housekeeping, events, verification) and telecommands as an "
                                        "XTCE 1.2 SpaceSystem, written with yamcs-pymdb. Commands whose arguments "
                                        "have no fixed encoding are left out and named.")
    xtce.add_argument("-o", "--output", type=Path, required=True, help="the XML file to write")
    xtce.set_defaults(handler=_export_xtce)

    plot = sub.add_parser("plot", help="plot telemetry channels from the archive into a PNG",
                          description="One panel per channel against UTC time, its limits drawn as lines, "
                                      "from what the archive holds in the range.")
    _channels_and_range(plot)
    plot.add_argument("-o", "--output", type=Path, required=True, help="the PNG file to write")
    plot.add_argument("--title", help="the figure's title (default: the channels and the range)")
    plot.set_defaults(handler=_plot)


def _channels_and_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("channels", nargs="+", metavar="CHANNEL", help="telemetry channels (see `ground tlm`)")
    parser.add_argument("--from", dest="start", default=None, help=f"from this time (default: the first value); {FORMS}")
    parser.add_argument("--to", dest="end", default=None, help="up to this time (default: the last value)")
    parser.add_argument("--config", type=Path, help="mission config (TOML) naming the archive; default: bench defaults")


def _open(args: argparse.Namespace) -> tuple[Archive, list[Channel], float | None, float | None]:
    mission = load_mission(args.config)
    path = mission.resolve(ground_settings(mission).archive)
    if not path.exists():
        raise ZenithError(f"no archive at {path}: has the station run with this --config?")
    dictionary = load_dictionary()
    channels = dictionary.channels_named(args.channels)
    now = time.time()
    start = parse_time(args.start, now, "--from") if args.start is not None else None
    end = parse_time(args.end, now, "--to") if args.end is not None else None
    if start is not None and end is not None and end < start:
        raise ZenithError(f"--to is before --from ({_utc(end)} < {_utc(start)})")
    return Archive(path, dictionary, readonly=True), channels, start, end


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- CSV ----------------------------------------------------------------------------------------


def rows_csv(archive: Archive, channels: list[Channel], start: float | None,
             end: float | None) -> tuple[str, int]:
    """The CSV text (a header, then every value of the channels in the range, oldest first) and how
    many values it holds."""
    rows = sorted(((t, channel.name, value) for channel in channels
                   for t, value in archive.values(channel.name, since=start, until=end)),
                  key=lambda row: row[0])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    single = {channel.name for channel in channels if channel.type.name == "f32"}
    for t, name, value in rows:
        writer.writerow((_utc(t), repr(t), name, _cell(value, name in single)))
    return text.getvalue(), len(rows)


def _cell(value: Any, single: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # nan, inf: what a spreadsheet reads
        return _shortest_f32(value) if single else repr(value)
    return str(value)


def _shortest_f32(value: float) -> str:
    """The shortest decimal that is the same single-precision number (1.2, not 1.2000000476837158)."""
    wire = struct.pack(">f", value)
    for digits in range(6, 10):
        text = f"{value:.{digits}g}"
        if struct.pack(">f", float(text)) == wire:
            return text
    return repr(value)


def _export_csv(args: argparse.Namespace) -> int:
    archive, channels, start, end = _open(args)
    with archive:
        text, values = rows_csv(archive, channels, start, end)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text.encode())
        print(f"wrote {args.output}: {values} values of {len(channels)} channel(s)", file=sys.stderr)
    return 0


def _export_xtce(args: argparse.Namespace) -> int:
    dictionary = load_dictionary()
    text, left_out = export_xtce(dictionary)
    write_atomic(args.output, text.encode())
    print(f"wrote {args.output}: {len(dictionary.housekeeping)} housekeeping reports, "
          f"{len(dictionary.commands) - len(left_out)} commands", file=sys.stderr)
    if left_out:
        print(f"left out (an argument of the scalar type has no fixed encoding): {', '.join(left_out)}",
              file=sys.stderr)
    return 0


# --- plot ---------------------------------------------------------------------------------------


def draw(path: Path, archive: Archive, channels: list[Channel], start: float | None, end: float | None,
         title: str | None = None) -> int:
    """The PNG of one panel per channel; how many values it shows."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    series = {c.name: archive.values(c.name, since=start, until=end) for c in channels}
    figure, panels = plt.subplots(len(channels), 1, figsize=(9, 2.2 * len(channels) + 0.8), sharex=True,
                                  squeeze=False)
    for axes, channel in zip(panels[:, 0], channels, strict=True):
        values = series[channel.name]
        moments = [datetime.fromtimestamp(t, UTC) for t, _ in values]
        numbers, labels = _numeric([v for _, v in values])
        axes.step(moments, numbers, where="post", lw=1.2)
        if labels:  # an enum or text channel: its labels on the axis
            axes.set_yticks(range(len(labels)), labels)
        _limits(axes, channel)
        axes.set_ylabel(f"{channel.name}\n[{channel.units}]" if channel.units else channel.name, fontsize=8)
        axes.grid(alpha=0.3)
        if not values:
            axes.text(0.5, 0.5, "no values in this range", transform=axes.transAxes, ha="center", color="grey")
    panels[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M:%S", tz=UTC))
    panels[-1, 0].set_xlabel("UTC")
    shown = sum(len(v) for v in series.values())
    span = f"{_utc(start) if start is not None else 'start'} to {_utc(end) if end is not None else 'now'}"
    figure.suptitle(title or f"{', '.join(c.name for c in channels)}: {span}", fontsize=10)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_atomic(path, buffer.getvalue())
    return shown


def _numeric(values: list[Any]) -> tuple[list[float], list[str]]:
    """Numbers to plot; for text values, each distinct label's index, and the labels in order."""
    if all(isinstance(v, bool | int | float) for v in values):
        return [float(v) for v in values], []
    labels = sorted({str(v) for v in values})
    index = {label: i for i, label in enumerate(labels)}
    return [float(index[str(v)]) for v in values], labels


def _limits(axes: Any, channel: Channel) -> None:
    limits = channel.limits
    for value, color in ((limits.warning_low, "orange"), (limits.warning_high, "orange"),
                         (limits.critical_low, "red"), (limits.critical_high, "red")):
        if value is not None:
            axes.axhline(value, color=color, lw=0.8, ls="--")


def _plot(args: argparse.Namespace) -> int:
    archive, channels, start, end = _open(args)
    with archive:
        shown = draw(args.output, archive, channels, start, end, args.title)
    print(f"wrote {args.output}: {shown} values of {len(channels)} channel(s)", file=sys.stderr)
    return 0
