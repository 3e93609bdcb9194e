"""Zenith test bench (hardware in the loop): the link emulator, the bus simulator and the mission runner.

Everything here stands in for the radio and the spacecraft on a laptop, a GPU bench or in CI, so
that the very same flight and ground code runs unchanged.
"""
