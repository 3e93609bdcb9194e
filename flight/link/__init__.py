"""The CCSDS link stack, shared by flight and ground.

Pure, I/O-free Python (the ZeroMQ transport in ``transport.py`` is the only edge), and no torch
import anywhere below this package, so that the supervisor and the ground station stay light.
"""
