"""The ``jupyter mlops`` command line."""
