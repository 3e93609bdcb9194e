"""Protection of a job's memory against single-event upsets: block checksums, scrubbing, rollback,
repair, and the GPU's own ECC reports.

Most of it runs inside the job worker (torch); the supervisor hears what it finds through the worker
link. ``ecc_source``, ``checkpoint_interval`` and ``bit_class`` are the supervisor's too, and import no torch.
"""
