"""CFDP file transfer (CCSDS 727.0-B-5) through cfdp-py: the entity both ends share, the restricted
filestore, the space-packet wrapping of PDUs, and the supervisor's file service."""
