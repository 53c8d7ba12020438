"""Work done away from the UI thread: the one loop and the one runner every background job
runs on (loop.py, runner.py), the jobs (trainer_job.py, compare_job.py) and what travels
between a screen and its job (protocol.py)."""
