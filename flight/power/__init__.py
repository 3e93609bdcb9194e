"""Payload power: the mode the payload runs in, the simulated GPU's power model, and the governor's plan."""
