"""Tests against real processes: the embedded Temporal dev server, worker.py, docker-compose."""
