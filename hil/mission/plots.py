"""The mission report's plots, drawn from the records the processes left (PNG, with matplotlib).

- ``loss.png``: each training job's loss against its step, as its housekeeping reported it, with
  the bench's bit flips (SEU_INJECTED) and the payload's detections (SEU_DETECTED) marked;
- ``power.png``: the bus's state of charge and the payload's draw against mission time, eclipses
  shaded, the governor's floor drawn;
- ``link.png``: the share of frames that crossed the link intact, per minute of mission time, from
  the emulator's capture, with the passes shaded;
- ``timeline.png``: each command, fault and downlink at its time, passes and eclipses behind.

Mission time is simulated seconds from the start, in hours on the axes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ground.archive import Archive
from hil.mission.plan import Geometry
from hil.mission.summary import bus_trace

HOUR = 3600.0
LINK_BIN_S = 60.0  # simulated seconds per bar of the link plot


def draw_all(out: Path, archive: Archive, geometry: Geometry, rate: float, steps: list[dict[str, Any]],
             soc_floor: float) -> list[Path]:
    """Every plot into ``out``; the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a bench or in CI
    written = [
        _loss(out / "loss.png", archive),
        _power(out / "power.png", bus_trace(out / "bus-trace.jsonl"), geometry, soc_floor),
        _link(out / "link.png", out / "capture.jsonl", geometry, rate),
        _timeline(out / "timeline.png", steps, geometry),
    ]
    return [path for path in written if path is not None]


def _shade(axes: Any, windows: Iterable[tuple[float, float]], color: str, label: str) -> None:
    for i, (a, b) in enumerate(windows):
        axes.axvspan(a / HOUR, b / HOUR, color=color, alpha=0.25, lw=0, label=label if i == 0 else None)


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


def _loss(path: Path, archive: Archive) -> Path:
    import matplotlib.pyplot as plt

    rows = archive.query(
        "SELECT j.value, s.value, l.value FROM hk j "
        "JOIN hk s ON s.packet_id = j.packet_id AND s.channel = 'job.step' "
        "JOIN hk l ON l.packet_id = j.packet_id AND l.channel = 'job.loss' "
        "WHERE j.channel = 'job.id' AND l.value > 0 ORDER BY j.time")
    curves: dict[int, dict[int, float]] = defaultdict(dict)
    for job, step, loss in rows:
        curves[int(job)][int(step)] = float(loss)  # a step reported twice (a replay) keeps its last loss
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for job, points in sorted(curves.items()):
        steps = sorted(points)
        axes.plot(steps, [points[s] for s in steps], lw=1.2, label=f"job {job} loss")
    for name, marker, color in (("SEU_INJECTED", "v", "tab:red"), ("SEU_DETECTED", "o", "tab:green")):
        events = [json.loads(a) for (a,) in archive.query("SELECT arguments FROM events WHERE name = ?", (name,))]
        for i, event in enumerate(events):
            points = curves.get(int(event.get("job", -1)), {})
            step = int(event.get("step", 0))
            near = min(points, key=lambda s: abs(s - step)) if points else None
            axes.plot([step], [points[near] if near is not None else 0.0], marker, color=color, ms=8,
                      label=("bit flipped" if name == "SEU_INJECTED" else "upset detected") if i == 0 else None)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.set_title("Training loss, with the bench's bit flips and the payload's detections")
    axes.grid(alpha=0.3)
    if curves:
        axes.legend()
    return _save(figure, path)


def _power(path: Path, trace: list[dict[str, Any]], geometry: Geometry, floor: float) -> Path:
    import matplotlib.pyplot as plt

    t = [(s["t"] - geometry.start) / HOUR for s in trace]
    figure, soc_axes = plt.subplots(figsize=(9, 4.5))
    _shade(soc_axes, _dark(trace, geometry.start), "tab:gray", "eclipse")
    soc_axes.axvline(geometry.duration_s / HOUR, color="k", ls=":", lw=1, label="end of mission")
    soc_axes.plot(t, [s["soc"] for s in trace], color="tab:blue", lw=1.5, label="state of charge")
    soc_axes.axhline(floor, color="tab:red", ls="--", lw=1, label=f"floor {floor:.0%}")
    soc_axes.set_ylim(0, 1.05)
    soc_axes.set_xlabel("mission time (h)")
    soc_axes.set_ylabel("state of charge")
    draw_axes = soc_axes.twinx()
    draw_axes.plot(t, [s["payload_w"] for s in trace], color="tab:orange", lw=1, label="payload draw (W)")
    draw_axes.set_ylabel("payload draw (W)")
    lines = soc_axes.get_legend_handles_labels()
    more = draw_axes.get_legend_handles_labels()
    soc_axes.legend(lines[0] + more[0], lines[1] + more[1], loc="upper center", bbox_to_anchor=(0.5, -0.15),
                    ncol=5, fontsize=8)
    soc_axes.set_title("Power: the battery, the payload's draw and the eclipses")
    return _save(figure, path)


def _dark(trace: list[dict[str, Any]], start: float) -> list[tuple[float, float]]:
    """The eclipses as the bus flew them (its trace's sunlight), in seconds after the start: the
    end-of-mission contact's too, which the plan does not list."""
    windows: list[tuple[float, float]] = []
    entered = None
    for step in trace:
        t = step["t"] - start
        if step["sunlit"] < 0.5 and entered is None:
            entered = t
        elif step["sunlit"] >= 0.5 and entered is not None:
            windows.append((entered, t))
            entered = None
    if entered is not None and trace:
        windows.append((entered, trace[-1]["t"] - start))
    return windows


def _link(path: Path, capture: Path, geometry: Geometry, rate: float) -> Path:
    import matplotlib.pyplot as plt

    bins: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # (intact, on the air) per bin
    if capture.exists():
        with capture.open() as f:
            for line in f:
                try:
                    record = json.loads(line)
                    index = int(float(record["t"]) * rate // LINK_BIN_S)
                    fate = record["fate"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by the stop
                bins[index][1] += 1
                bins[index][0] += fate in ("delivered", "delayed", "duplicated")
    figure, axes = plt.subplots(figsize=(9, 4))
    _shade(axes, geometry.passes, "tab:green", "pass")
    xs = sorted(bins)
    axes.bar([(x + 0.5) * LINK_BIN_S / HOUR for x in xs], [bins[x][0] / bins[x][1] for x in xs],
             width=LINK_BIN_S / HOUR, color="tab:blue", label="frames intact")
    axes.axvline(geometry.duration_s / HOUR, color="k", ls=":", lw=1, label="end of mission (contact kept)")
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("mission time (h)")
    axes.set_ylabel(f"share of frames intact per {LINK_BIN_S:g} s")
    axes.set_title("Link quality and passes")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
    return _save(figure, path)


def _timeline(path: Path, steps: list[dict[str, Any]], geometry: Geometry) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.3 * max(1, len(steps))))
    _shade(axes, geometry.passes, "tab:green", "pass")
    _shade(axes, geometry.eclipses, "tab:gray", "eclipse")
    for row, step in enumerate(steps):
        color = "tab:blue" if step["ok"] else "tab:red"
        axes.plot([step["t_s"] / HOUR], [row], "o", color=color)
        axes.annotate(step["what"], (step["t_s"] / HOUR, row), xytext=(6, -3), textcoords="offset points", fontsize=8)
    axes.set_yticks([])
    axes.set_ylim(-1, len(steps))
    axes.invert_yaxis()
    axes.set_xlim(0, geometry.duration_s / HOUR * 1.15)
    axes.set_xlabel("mission time (h)")
    axes.set_title("The timeline: commands, faults and downlinks (red: refused or failed)")
    axes.legend(loc="upper right", fontsize=8)
    return _save(figure, path)
