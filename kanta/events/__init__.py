"""Log events: the LogEvent of a change (`event`), its text (`text`), and emitting it to
Python logging and the logemit callbacks (`emit`).
"""
