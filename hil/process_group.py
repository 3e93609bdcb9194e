"""Child processes of a bench run: started together, watched, and always stopped together."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

STOP_GRACE_S = 5.0


class ProcessGroup:
    """Starts ``python -m MODULE ...`` children; their output lines go to ``on_line`` as they come."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self._children: dict[str, subprocess.Popen[str]] = {}
        self._readers: list[threading.Thread] = []

    def start(self, name: str, module: str, args: list[str],
              on_line: Callable[[str, str], None] | None = None) -> subprocess.Popen[str]:
        # Appending: a child restarted under the same name keeps its earlier life in the log.
        log = (self.log_dir / f"{name}.log").open("a") if self.log_dir else None
        child = subprocess.Popen([sys.executable, "-u", "-m", module, *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._children[name] = child

        def pump() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                if log:
                    log.write(line)
                    log.flush()
                if on_line:
                    on_line(name, line.rstrip("\n"))
            if log:
                log.close()

        reader = threading.Thread(target=pump, name=f"{name}-output", daemon=True)
        reader.start()
        self._readers.append(reader)
        return child

    def child(self, name: str) -> subprocess.Popen[str] | None:
        return self._children.get(name)

    def stop(self, name: str) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; returns the exit code."""
        child = self._children.get(name)
        if child is None:
            return None
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return child.returncode

    def stop_all(self) -> dict[str, int | None]:
        codes = {name: self.stop(name) for name in reversed(list(self._children))}
        for reader in self._readers:
            reader.join(timeout=2)
        return codes

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
