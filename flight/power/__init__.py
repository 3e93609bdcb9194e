"""Payload power: the mode the payload runs in (the governor that sets it comes with the bus simulator)."""
