"""The two log formats, under the module path kanta 0.9.x programs import them from."""

from .core.formats import Serializer
from .core.jsonlines import JsonSerializer
from .core.msgpackframes import MsgPackSerializer

__all__ = ["JsonSerializer", "MsgPackSerializer", "Serializer"]
