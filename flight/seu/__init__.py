"""Protection of a job's memory against single-event upsets: block checksums, scrubbing, rollback,
repair, and the GPU's own ECC reports.

Most of it runs inside the job worker (torch); the supervisor hears what it finds through the worker
link. ``ecc_source`` and ``checkpoint_interval`` are the supervisor's, and import no torch.
"""
