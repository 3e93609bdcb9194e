"""The spacecraft bus simulator."""
