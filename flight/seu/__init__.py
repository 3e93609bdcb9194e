"""Protection of a job's memory against single-event upsets: block checksums, scrubbing, rollback.

Runs inside the job worker (torch); the supervisor only hears what it finds, through the worker link.
"""
