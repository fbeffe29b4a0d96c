"""kanta 0.9.x's `kanta.logging`: log events, emitting them, and the loggers' setup."""

from .events.emit import default_emit, emit_event
from .events.event import LogEvent
from .events.loggers import configure_logging
from .tty import Line, displaywidth, strip_ansi, use_color

__all__ = [
    "Line",
    "LogEvent",
    "configure_logging",
    "default_emit",
    "displaywidth",
    "emit_event",
    "strip_ansi",
    "use_color",
]
