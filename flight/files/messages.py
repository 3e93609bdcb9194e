"""Reserved CFDP messages to user (CCSDS 727.0-B-5 section 6) that the entities exchange: a proxy put
request ("send me that file", how ``get`` works), a directory listing request, the responses to
both, and the originating transaction ID that ties an answer to its request.

They come over the link inside Metadata PDUs, so reading them is decoding: a malformed one is
counted and skipped, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spacepackets.cfdp import ConditionCode, TransactionId, TransmissionMode
from spacepackets.cfdp.pdu import DeliveryCode
from spacepackets.cfdp.pdu.finished import FileStatus
from spacepackets.cfdp.tlv import (
    DirectoryListingResponse,
    DirectoryParams,
    MessageToUserTlv,
    OriginatingTransactionId,
    ProxyPutResponse,
    ProxyPutResponseParams,
    ReservedCfdpMessage,
)


@dataclass
class ProxyPut:
    """A proxy put request (6.2.6): the peer asks this entity to send it ``source`` as ``dest``."""

    source: str
    dest: str
    dest_entity: int
    acknowledged: bool
    origin: TransactionId


@dataclass
class ListingRequest:
    """A directory listing request (6.3.3): "list this directory into that file of mine"."""

    directory: str
    dest: str
    origin: TransactionId


@dataclass
class Asked:
    """What one Metadata PDU's messages ask for, and the transaction that asked, if they name one."""

    proxy_puts: list[ProxyPut] = field(default_factory=list)
    listings: list[ListingRequest] = field(default_factory=list)
    origin: TransactionId | None = None
    malformed: int = 0


def read_messages(messages: list[MessageToUserTlv], transaction: TransactionId) -> Asked:
    asked = Asked()
    reserved = []
    for message in messages:
        try:
            decoded = message.to_reserved_msg_tlv()
        except Exception:  # not even a reserved message's frame: counted by the caller
            asked.malformed += 1
            continue
        if decoded is not None:
            reserved.append(decoded)
    # Class 2 unless the request says otherwise (6.2.6.3: the proxy transmission mode message).
    acknowledged = True
    for message in reserved:
        try:
            mode = message.get_proxy_transmission_mode()
            origin = message.get_originating_transaction_id()
            put = message.get_proxy_put_request_params()
            listing = message.get_dir_listing_request_params()
        except Exception:
            asked.malformed += 1
            continue
        if mode is not None:
            acknowledged = mode == TransmissionMode.ACKNOWLEDGED
        if origin is not None:
            asked.origin = origin
        try:
            if put is not None:
                asked.proxy_puts.append(ProxyPut(put.source_file_as_str, put.dest_file_as_str,
                                                 put.dest_entity_id.value, True, transaction))
            if listing is not None:
                asked.listings.append(ListingRequest(listing.dir_path_as_str, listing.dir_file_name_as_str,
                                                     transaction))
        except UnicodeDecodeError:
            asked.malformed += 1
    for request in asked.proxy_puts:
        request.acknowledged = acknowledged
    return asked


def put_refused(origin: TransactionId, condition: ConditionCode) -> list[ReservedCfdpMessage]:
    """The messages of a metadata-only transaction telling the requester its proxy put failed."""
    response = ProxyPutResponse(ProxyPutResponseParams(condition, DeliveryCode.DATA_INCOMPLETE,
                                                       FileStatus.FILE_STATUS_UNREPORTED))
    return [response, OriginatingTransactionId(origin)]


def listing_answer(request: ListingRequest, listed: bool) -> list[ReservedCfdpMessage]:
    """The messages that go with a listing (``listed``) or with the refusal to make one."""
    params = DirectoryParams.from_strs(request.directory, request.dest)
    return [DirectoryListingResponse(listed, params), OriginatingTransactionId(request.origin)]
