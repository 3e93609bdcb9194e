"""The payload supervisor: one light, long-lived process that owns the link and runs the services.

It never imports torch: it is the watchdog, and must stay responsive while the GPU is saturated.
"""
