"""The dictionary: every command, telemetry channel, event and parameter, defined once.

Flight, ground, docs and tests all read ``zenith.json`` through :func:`load_dictionary`.
"""

from flight.dictionary.commands import DecodedCommand, decode_app_data, encode_app_data, encode_command
from flight.dictionary.loader import load_dictionary, parse_dictionary
from flight.dictionary.model import Command, Dictionary

__all__ = ["Command", "DecodedCommand", "Dictionary", "decode_app_data", "encode_app_data", "encode_command",
           "load_dictionary", "parse_dictionary"]
