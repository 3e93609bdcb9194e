"""Tests of the payload supervisor (flight/supervisor), one module per module."""
