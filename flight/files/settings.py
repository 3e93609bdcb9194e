"""The ``[files]`` table of the mission file: CFDP settings both ends must agree on, and the flight's
filestore root. Example::

    [files]
    root = "files"              # the payload's filestore (relative to the mission file); uplinks land
                                # in its "uplink/" area and nowhere else
    ground_root = "ground-files"  # where the station writes what it receives before moving it
    flight_entity = 1
    ground_entity = 2
    checksum = "crc32"          # crc32, crc32c, modular or null (cfdp-py computes and verifies it)
    ack_timer = 3.0             # class 2: seconds between EOF/Finished retransmissions ...
    ack_limit = 60              # ... and how many before the transaction is cancelled
    nak_timer = 3.0             # class 2: seconds between NAK sequences while data is missing ...
    nak_limit = 60              # ... and how many without progress before it is cancelled
    inactivity = 600.0          # seconds with no PDU for a transaction before it is abandoned

Timers times limits must outlast the longest loss of signal a class-2 transfer is to survive.
"""

from __future__ import annotations

import dataclasses

from spacepackets.cfdp import ChecksumType

from flight.link.config import from_table
from flight.link.errors import ConfigError
from flight.mission_config import MissionFile

CHECKSUMS = {"crc32": ChecksumType.CRC_32, "crc32c": ChecksumType.CRC_32C, "modular": ChecksumType.MODULAR,
             "null": ChecksumType.NULL_CHECKSUM}
UPLINK_AREA = "uplink"


@dataclasses.dataclass(frozen=True, slots=True)
class FilesSettings:
    root: str = "files"
    ground_root: str = "ground-files"
    flight_entity: int = 1
    ground_entity: int = 2
    checksum: str = "crc32"
    pdu_crc: bool = True  # CRC-16 on every PDU: a damaged PDU is refused rather than written
    ack_timer: float = 3.0
    ack_limit: int = 60
    nak_timer: float = 3.0
    nak_limit: int = 60
    check_timer: float = 5.0  # class 1: wait for late data after EOF
    check_limit: int = 3
    inactivity: float = 600.0
    max_transfers: int = 8  # transactions at once per entity; more are refused
    max_file_size: int = 1 << 31

    def __post_init__(self) -> None:
        checks = {"flight_entity (1..65535)": 0 < self.flight_entity < 65536,
                  "ground_entity (1..65535, not flight_entity)":
                      0 < self.ground_entity < 65536 and self.ground_entity != self.flight_entity,
                  f"checksum ({', '.join(CHECKSUMS)})": self.checksum in CHECKSUMS,
                  "ack_timer": self.ack_timer > 0, "ack_limit": self.ack_limit >= 1,
                  "nak_timer": self.nak_timer > 0, "nak_limit": self.nak_limit >= 1,
                  "check_timer": self.check_timer > 0, "check_limit": self.check_limit >= 1,
                  "inactivity": self.inactivity > 0, "max_transfers": self.max_transfers >= 1,
                  "max_file_size": self.max_file_size >= 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"files: {', '.join(bad)} out of range")

    @property
    def checksum_type(self) -> ChecksumType:
        return CHECKSUMS[self.checksum]


def files_settings(mission: MissionFile) -> FilesSettings:
    return from_table(FilesSettings, mission.doc.get("files", {}), "files")
