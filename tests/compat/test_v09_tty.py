"""`kanta.tty` as 0.9.x has it: the palette, `Line`, widths, padding and colour detection.

The same expressions run under kanta 0.9.4 and under ours. Where they should agree, the
answers are compared; where ours differs on purpose (docs/migrating.md), 0.9.4's answer
is asserted too, so that each difference is shown to be a fix and not an accident.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kanta094 import run_program

import kanta.ansi
import kanta.tty
from kanta.tty import Colors, Line, colors, displaywidth, pad, strip_ansi, use_color

# Each expression is evaluated in a program of its own under either interpreter; an
# exception is the answer `Name: message`.
PROGRAM = """
import inspect, io, json, os, sys
from kanta.tty import ANSI_RE, ESC, Colors, Line, colors, displaywidth, pad, strip_ansi, use_color

class Tty:
    def isatty(self): return True

class NotTty:
    def isatty(self): return False

def sgr(a, b):  # one part in palette colour `a`, the next in `b`
    palette = Colors(); palette.a = a; palette.b = b
    return str(Line(palette).a("x").b("y"))

def setenv(**values):  # these variables and none other of those use_color reads
    for name in ("NO_COLOR", "FORCE_COLOR", "JOURNAL_STREAM"):
        os.environ.pop(name, None)
    os.environ.update(values)

def env(**values):  # use_color of streams of each kind under these variables
    setenv(**values)
    return [use_color(stream) for stream in (Tty(), NotTty(), None, io.StringIO())]

def journal(form="{dev}:{ino}", stream=None, **values):  # JOURNAL_STREAM names a file
    file = open("journal.txt", "w")
    found = os.fstat(file.fileno())
    setenv(JOURNAL_STREAM=form.format(dev=found.st_dev, ino=found.st_ino), **values)
    return use_color(file if stream is None else stream)

def closed():
    stream = open(os.devnull, "w"); stream.close()
    return use_color(stream)

def stderr_now():  # use_color() after the program replaced sys.stderr with a terminal
    sys.stderr, kept = Tty(), sys.stderr
    try:
        return use_color()
    finally:
        sys.stderr = kept

answers = {}
for expression in json.loads(sys.argv[1]):
    try:
        answers[expression] = eval(expression)
    except Exception as exc:
        answers[expression] = f"{type(exc).__name__}: {exc}"
print(json.dumps(answers))
"""

SAME = [
    # The module's names, the palette and its defaults.
    "[hasattr(sys.modules['kanta.tty'], n) for n in ('ANSI_RE', 'Colors', 'ESC', 'pad')]",
    "ESC",
    "vars(colors)",
    "{n: v for n, v in vars(Colors).items() if isinstance(v, str) and not n.startswith('_')}",
    # Signatures.
    "str(inspect.signature(pad))",
    "str(inspect.signature(Line))",
    "str(inspect.signature(Line.__call__))",
    "str(inspect.signature(strip_ansi))",
    "str(inspect.signature(displaywidth))",
    "list(inspect.signature(use_color).parameters)",
    # Line: the escapes, the folded resets, what arms a colour and for how long.
    "str(Line())",
    "str(Line()('x', 1, None))",
    "str(Line().action('x'))",
    "str(Line().action('x')('y'))",
    "str(Line().action('x').user('y')('z'))",
    "str(Line().user('bob', width=20)(' ').action('add'))",
    "str(Line().add('a').delete('b').add('c'))",
    "str(Line().target('a').path_prefix('b.').path_final('c').sep(' = ').ellipsis('…'))",
    "str(Line().snapshot('s'))",
    "str(Line().action('x').action('y'))",
    "str(Line().action('x')('').user('y'))",
    "str(Line().action())",
    "str(Line().action)",
    "str(Line()('\\x1b[31mred')('x'))",
    "str(Line().nosuch('x'))",
    "(lambda l: [str(l), str(l), str(l('y'))])(Line().action('x'))",
    "str(Line(Colors()).action('x'))",
    "(lambda p: (setattr(p, 'action', '35'), str(Line(p).action('x')))[1])(Colors())",
    "(setattr(colors, 'session', '38;5;226'), str(Line().session('s')))[1]",
    "(setattr(colors, 'action', '36'), str(Line().action('a')))[1]",
    "[sgr(a, b) for a in ('1', '31', '1;31', '38;5;9', '41', '5') "
    "for b in ('1', '2', '31', '1;32', '38;5;9', '48;5;9', '100', '0', '31;0', '5;8')]",
    "[sgr('0', b) for b in ('32;1;31', '9;7;4;3;2;1', '1;34;0;2', '38:5:9', '4:3', '01')]",
    # Alignment: the three values, and anything else pads as "left".
    "[str(Line().user('bob', width=6, align=a)) for a in ('left', 'right', 'center', '^', '')]",
    "[str(Line()('ab', 'c', width=w, align='center')) for w in (0, 2, 4, 7)]",
    "str(Line().user('日本', width=6, align='right'))",
    # pad, displaywidth and strip_ansi on text both count alike.
    "[pad('ab', 5, a) for a in ('left', 'right', 'center', 'bogus')]",
    "[pad('abcdef', 3), pad('\\x1b[31mab\\x1b[0m', 4), pad('日本', 5, align='right'), pad('', 2)]",
    "pad(5, 3)",
    "[displaywidth(t) for t in ('', 'abc', '日本', '한국', 'Ａ', 'ｱ', 'e\\u0301', '😀', '🇫🇮')]",
    "[displaywidth(t) for t in ('\\x1b[1;31mab\\x1b[0m', '\\u200b', '🏴\\U000e0067\\U000e007f')]",
    "[strip_ansi(t) for t in ('\\x1b[1;31;42mx\\x1b[0m', '\\x1b[38:5:9my', '\\x1b[2Jz')]",
    "strip_ansi('a\\x1bb')",
    # use_color: NO_COLOR, then FORCE_COLOR (not "0"), then isatty, then the journal.
    "env()",
    "env(NO_COLOR='1')",
    "env(NO_COLOR='')",
    "env(NO_COLOR='0')",
    "env(FORCE_COLOR='1')",
    "env(FORCE_COLOR='0')",
    "env(FORCE_COLOR='')",
    "env(NO_COLOR='1', FORCE_COLOR='1')",
    "journal()",
    "[journal(' 0{dev}:{ino}\\n'), journal('{ino}:{dev}'), journal('{dev}:{ino}:')]",
    "journal('1:2')",
    "journal('garbage')",
    "journal(stream=io.StringIO())",
    "journal(NO_COLOR='1')",
]

# Ours on purpose, 0.9.4's answer beside it.
DIFFERENT: dict[str, tuple[Any, Any]] = {
    # Emoji as terminals draw them: VS16 makes a symbol wide, a ZWJ sequence or a skin
    # tone is one wide glyph; combining marks and Hangul vowel/final jamo take no column.
    "[displaywidth(t) for t in ('🛢️', '❤️', '1️⃣', '©️')]": ([1, 1, 1, 1], [2, 2, 2, 2]),
    "[displaywidth(t) for t in ('👍🏽', '👨\\u200d👩\\u200d👧', '🏳️\\u200d🌈')]": (
        [4, 6, 3],
        [2, 2, 2],
    ),
    "[displaywidth(t) for t in ('\\u3099', '\\u1100\\u1161', '\\uac00\\u11a8')]": (
        [2, 3, 3],
        [0, 2, 2],
    ),
    "pad('🛢️', 4)": ("🛢️   ", "🛢️  "),
    # OSC sequences (an OSC 8 hyperlink, a window title) and all of CSI are escapes too.
    "strip_ansi('\\x1b]8;;https://x\\x07link\\x1b]8;;\\x07')": (
        "\x1b]8;;https://x\x07link\x1b]8;;\x07",
        "link",
    ),
    "strip_ansi('\\x1b]8;;https://x\\x1b\\\\link\\x1b]8;;\\x1b\\\\ \\x1b]0;title\\x07')": (
        "\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\ \x1b]0;title\x07",
        "link ",
    ),
    "[strip_ansi('\\x1b[?25lx'), strip_ansi('\\x1b[2~y')]": (
        ["\x1b[?25lx", "\x1b[2~y"],
        ["x", "y"],
    ),
    "displaywidth('\\x1b]8;;https://x\\x07link\\x1b]8;;\\x07')": (25, 4),
    # 38;2;r;g;b is one colour: 0.9.4 reads its `b` as an attribute (3: italic) and so
    # leaves italic on; an empty parameter is 0, which 0.9.4 writes out as it is.
    "sgr('3', '38;2;1;2;3')": (
        "\x1b[3mx\x1b[38;2;1;2my\x1b[0m",
        "\x1b[3mx\x1b[0;38;2;1;2;3my\x1b[0m",
    ),
    "sgr('38;2;1;2;3', '31')": (
        "\x1b[38;2;1;2;3mx\x1b[0;31my\x1b[0m",
        "\x1b[38;2;1;2;3mx\x1b[31my\x1b[0m",
    ),
    "sgr('31', '1;;31')": ("\x1b[31mx\x1b[1;my\x1b[0m", "\x1b[31mxy\x1b[0m"),
    "sgr('', '')": ("\x1b[mxy\x1b[0m", "xy"),
    # use_color: sys.stderr as it is at the call; a closed stream, or one without a file
    # descriptor while JOURNAL_STREAM is set, is not coloured instead of raising.
    "stderr_now()": (False, True),
    "closed()": ("ValueError: I/O operation on closed file", False),
    "journal(stream=object())": (
        "AttributeError: 'object' object has no attribute 'fileno'",
        False,
    ),
    # Kanta's own style names are palette colours too.
    "str(Line().grey('g').match('m'))": (
        "AttributeError: unknown color: 'grey'",
        "\x1b[90mg\x1b[30;43mm\x1b[0m",
    ),
}


def _answers(python: str, folder: Path, expressions: list[str]) -> dict[str, Any]:
    folder.mkdir(exist_ok=True)
    done = run_program(python, PROGRAM, json.dumps(expressions), cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    answers: dict[str, Any] = json.loads(done.stdout)
    return answers


def test_same_answers_as_0_9(tmp_path: Path, ours: str, kanta094: str) -> None:
    theirs = _answers(kanta094, tmp_path / "theirs", SAME)
    mine = _answers(ours, tmp_path / "ours", SAME)
    palette = SAME[3]  # ours has kanta's own style names after those of 0.9.4
    assert list(mine.pop(palette).items())[: len(theirs[palette])] == list(
        theirs.pop(palette).items()
    )
    assert {key: mine[key] for key in theirs if mine[key] != theirs[key]} == {}
    # A few of the answers, spelled out.
    assert theirs["str(Line().action('x').user('y')('z'))"] == "\x1b[1;34mx\x1b[0;34my\x1b[0mz"
    assert theirs["str(Line().nosuch('x'))"] == "AttributeError: unknown color: 'nosuch'"
    assert (
        theirs["str(inspect.signature(pad))"]
        == "(text: 'str', width: 'int', align: 'str' = 'left') -> 'str'"
    )
    assert theirs["journal()"] is True
    assert theirs["env(FORCE_COLOR='0')"] == [True, False, False, False]  # "0" forces nothing


def test_where_ours_differs_on_purpose(tmp_path: Path, ours: str, kanta094: str) -> None:
    theirs = _answers(kanta094, tmp_path / "theirs", list(DIFFERENT))
    mine = _answers(ours, tmp_path / "ours", list(DIFFERENT))
    assert theirs == {key: was for key, (was, _) in DIFFERENT.items()}
    assert mine == {key: now for key, (_, now) in DIFFERENT.items()}


def test_importing_kanta_brings_kanta_tty(tmp_path: Path, ours: str, kanta094: str) -> None:
    program = "import kanta\nprint(kanta.tty.colors.action, kanta.tty.Line.__name__)\n"
    for python in (kanta094, ours):
        done = run_program(python, program, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, "1;34 Line\n"), done.stderr


# In-process: ours only.

NAMES = ["colors", "Line", "strip_ansi", "displaywidth", "pad", "use_color"]
# The codes kanta.ansi.Style had before kanta.tty, byte for byte.
STYLE_CODES = {"dim": "2", "bold": "1", "action": "1;34", "red": "31", "green": "32"}
STYLE_CODES |= {"yellow": "33", "cyan": "36", "grey": "90", "match": "30;43"}


@pytest.fixture
def palette() -> Iterator[Colors]:
    """The palette, given back as it was."""
    saved = dict(vars(colors))
    yield colors
    vars(colors).clear()
    vars(colors).update(saved)


@pytest.fixture
def no_colour_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """None of the variables use_color reads."""
    for name in ("NO_COLOR", "FORCE_COLOR", "JOURNAL_STREAM"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_one_implementation_wherever_a_name_is_exposed() -> None:
    assert kanta.ansi.use_colour is use_color
    for module in ("kanta", "kanta.logging", "kanta.ansi"):
        if importlib.util.find_spec(module) is None:
            continue
        loaded = importlib.import_module(module)
        shared = [name for name in NAMES if hasattr(loaded, name)]
        assert [
            name for name in shared if getattr(loaded, name) is not getattr(kanta.tty, name)
        ] == []


def test_style_is_the_palette_byte_for_byte(palette: Colors) -> None:
    for name, code in STYLE_CODES.items():
        assert kanta.ansi.Style(True)("t", name) == f"\x1b[{code}mt\x1b[0m"
        assert kanta.ansi.Style(False)("t", name) == "t"
    palette.action = "36"  # a user's restyling reaches kanta's own lines
    setattr(palette, "session", "38;5;226")  # noqa: B010 (a name Colors has not)
    assert kanta.ansi.Style(True)("add", "action") == "\x1b[36madd\x1b[0m"
    assert str(Line().session("s")(" ").action("a")) == "\x1b[38;5;226ms\x1b[0m \x1b[36ma\x1b[0m"
    assert str(Line(Colors()).action("a")) == "\x1b[1;34ma\x1b[0m"  # another palette


def test_a_colour_is_read_when_armed(palette: Colors) -> None:
    armed = Line().user
    palette.user = "35"
    assert str(armed("x")) == "\x1b[34mx\x1b[0m"
    assert str(Line().user("x")) == "\x1b[35mx\x1b[0m"
    with pytest.raises(AttributeError, match="unknown color: 'nosuch'"):
        Line().nosuch  # noqa: B018
    assert not hasattr(Line(), "_private")


def test_displaywidth_counts_as_terminals_draw() -> None:
    widths = {"abc": 3, "日本": 4, "e\u0301": 1, "🛢️": 2, "🛢": 1, "👍🏽": 2, "🏽": 2}
    widths |= {"👩\u200d💻": 2, "🇫🇮": 2, "#️⃣": 2, "a\u200db": 2, "\x1b]8;;u\x07ok\x1b]8;;\x07": 2}
    assert {text: displaywidth(text) for text in widths} == widths
    assert pad("👩\u200d💻", 4, "center") == " 👩\u200d💻 "


def test_strip_ansi_takes_sgr_csi_and_osc_but_not_unfinished_ones() -> None:
    assert strip_ansi("\x1b[1;34ma\x1b[0m \x1b]8;;https://x\x1b\\b\x1b]8;;\x1b\\") == "a b"
    assert strip_ansi("\x1b]8;;never ended") == "\x1b]8;;never ended"


def test_use_color_reads_stderr_at_the_call(no_colour_env: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    no_colour_env.setattr(sys, "stderr", Terminal())
    assert use_color() is True and use_color(io.StringIO()) is False
    assert kanta.ansi.use_colour(None) is False  # no stream: only FORCE_COLOR colours it
    no_colour_env.setenv("FORCE_COLOR", "1")
    assert kanta.ansi.use_colour(None) is True
    no_colour_env.setenv("NO_COLOR", "1")
    assert use_color() is False


def test_use_color_on_the_journal(tmp_path: Path, no_colour_env: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "journal", "w") as journal, open(tmp_path / "other", "w") as other:
        found = os.fstat(journal.fileno())
        no_colour_env.setenv("JOURNAL_STREAM", f"{found.st_dev}:{found.st_ino}")
        assert [use_color(journal), use_color(other), use_color(None)] == [True, False, False]
        no_colour_env.setenv("JOURNAL_STREAM", f"{found.st_dev}:{found.st_ino}:0")
        assert use_color(journal) is False
    assert use_color(journal) is False  # closed
