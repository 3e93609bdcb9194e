"""Zenith ground segment: the operators' end of the link."""
