"""The supervisor's PUS services, one module each, each with its own counters."""
