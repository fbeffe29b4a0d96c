"""Pure code on live objects: change tracking (the shadow copy, flat paths, the audit),
encoding a change with its read-back check, copies and kinds of values, type hints.

No files, event loops or threads here either (tests/test_layers.py holds that).
"""
