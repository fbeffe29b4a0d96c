"""Log events: the LogEvent of a change, its text, and emitting it to Python logging and logemit callbacks."""
