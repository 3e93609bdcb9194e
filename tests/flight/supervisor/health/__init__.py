"""Tests of the supervisor's health: modes, limits, heartbeats, restarts."""
