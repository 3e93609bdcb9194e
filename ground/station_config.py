"""The ground station's settings: the ``[ground]`` table of the mission file.

Example::

    [ground]
    archive = "state/ground.db"
    token_file = "state/ground.token"   # operator token, created 0600 at first start
    los_after = 3.0                     # seconds without a good frame: loss of signal
    gap_settle = 2.0                    # a hole must be this old before a playback is asked for it
    gap_retry = 20.0                    # ask again if the playback has not filled it by then
    gap_attempts = 6                    # ... at most this many times (the store is bounded)
    gap_merge = 16                      # holes of one APID at most this many counts apart: one request
"""

from __future__ import annotations

import dataclasses

from flight.link.config import from_table
from flight.link.errors import ConfigError
from flight.link.transport import Endpoint
from flight.mission_config import MissionFile
from ground.passes import PassSettings


@dataclasses.dataclass(frozen=True, slots=True)
class GroundSettings:
    archive: str = "ground-archive.db"
    token_file: str = "ground.token"
    uplink: str = ""  # endpoint; empty: the bench port
    downlink: str = ""
    control: str = ""  # where operators' tools reach the station (tcp://HOST:PORT); empty: the bench port
    los_after: float = 3.0
    gap_fill: bool = True
    gap_settle: float = 2.0
    gap_retry: float = 20.0
    gap_requests: int = 4  # playback requests per check, at most
    gap_check: float = 1.0  # seconds between checks for holes
    gap_attempts: int = 6  # requests for one hole before giving up (the store may have dropped it)
    gap_merge: int = 16  # holes of one APID at most this many counts apart are asked for in one request
    passes: PassSettings = dataclasses.field(default_factory=PassSettings)  # [ground.passes]: see ground.passes

    def __post_init__(self) -> None:
        checks = {"los_after": self.los_after > 0, "gap_settle": self.gap_settle >= 0,
                  "gap_retry": self.gap_retry > 0, "gap_requests": self.gap_requests >= 1,
                  "gap_check": self.gap_check > 0, "gap_attempts": self.gap_attempts >= 1,
                  "gap_merge (0..16383)": 0 <= self.gap_merge < 16384}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"ground: {', '.join(bad)} out of range")


def ground_settings(mission: MissionFile) -> GroundSettings:
    return from_table(GroundSettings, mission.doc.get("ground", {}), "ground")


def control_endpoint(mission: MissionFile, settings: GroundSettings) -> str:
    return settings.control or mission.ports.ground_control()


def link_endpoints(mission: MissionFile, settings: GroundSettings) -> tuple[Endpoint, Endpoint]:
    return (mission.endpoint(settings.uplink, mission.ports.ground_uplink()),
            mission.endpoint(settings.downlink, mission.ports.ground_downlink()))
