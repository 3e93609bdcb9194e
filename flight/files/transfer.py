"""What an entity knows about one transaction, as both ends report and keep it."""

from __future__ import annotations

import dataclasses
from typing import Any

ACTIVE, FINISHED, FAILED = "active", "finished", "failed"


@dataclasses.dataclass
class Transfer:
    """One CFDP transaction seen from this entity: ``role`` "send" (we are its source) or "receive"."""

    key: str  # "source entity:sequence number", the transaction ID
    role: str
    acknowledged: bool  # class 2
    source: str = ""
    dest: str = ""
    size: int | None = None
    progress: int = 0
    state: str = ACTIVE
    condition: str = ""  # the CFDP condition code's name at the end, or why it failed here
    checksum: str = ""  # the file checksum the EOF PDU carried, hex
    checksum_type: str = ""
    verified: bool = False  # the receiving entity computed the same checksum over the whole file
    retransmitted: int = 0  # file data PDUs sent again on a NAK
    naks: int = 0  # NAK PDUs this end sent or received for it
    origin: str = ""  # the transaction whose proxy put request started this one
    started: float = 0.0
    ended: float | None = None

    @property
    def done(self) -> bool:
        return self.state != ACTIVE

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> Transfer:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})


def transaction_key(source_entity: int, sequence: int) -> str:
    return f"{source_entity}:{sequence}"
