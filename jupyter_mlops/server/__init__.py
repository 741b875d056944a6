"""The Jupyter server side of background runs: the run manager (spawns and tracks run
processes), the event relay (store event log -> jupyter_server's event bus) and the run
process entry point. Importing this package imports nothing else."""
