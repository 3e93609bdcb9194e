"""Tests of the supervisor's PUS services."""
