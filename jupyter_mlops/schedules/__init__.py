"""Cron schedules of notebook runs (retrain on a schedule, promote only a better model).

- :mod:`.cron`: cron expressions and time zones (croniter + zoneinfo): validation, the next
  firings, the slots missed since a time;
- :mod:`.table`: schedules and their firings in the run store (``schedules`` and
  ``schedule_firings`` tables): adding, pausing, claiming a slot (once, whoever asks),
  recording how a firing ended.

Firing (queueing a run, starting its process) is the service's job
(:mod:`jupyter_mlops.service_schedules`), driven by the Jupyter server extension and by
``jupyter mlops scheduler``.
"""
