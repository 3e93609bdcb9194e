"""Zenith flight software: everything that runs on the payload computer."""
