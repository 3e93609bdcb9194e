"""The emulated radio link: seeded fault models (``faults``), the frame capture (``capture``) and the
ZeroMQ process between ground and flight (``emulator``), started with ``hil link``.
"""
