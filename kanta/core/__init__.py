"""The pure core: records, the two log formats and their framing, diff and patch, the fold
of records into a state, migrations, retention, snapshot policy, ranges and grep.

Bytes and dicts in, bytes and dicts out: nothing here opens a file, runs an event loop or
a thread, or reads the clock (tests/test_layers.py holds that).
"""
