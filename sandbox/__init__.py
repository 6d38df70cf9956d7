"""The check half of guess-and-check: environments, containers, test runs and verdicts.

Nothing here knows about models or the command line; callers pass plain data in and get
dataclasses back, and progress goes out through a ``Progress`` callback.
"""
