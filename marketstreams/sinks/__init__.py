"""Sinks: books and trades leaving the process for other processes and machines.

:mod:`marketstreams.sinks.redis` publishes them to Redis Streams (needs ``pip install redis``).
"""
