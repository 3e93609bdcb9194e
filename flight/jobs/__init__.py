"""GPU jobs: training and inference, each run in its own worker process (torch lives here, never in
the supervisor), and the data they need."""
