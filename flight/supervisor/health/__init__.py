"""Health: heartbeats and watchdog, limit checks, safe mode, and the restart record."""
