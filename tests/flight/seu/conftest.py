"""The training fixtures (the real corpus, the tiny config, one torch thread) are the jobs tests' own."""

from tests.flight.jobs.conftest import one_thread, real_prepared, tiny_config, tiny_prepared  # noqa: F401
