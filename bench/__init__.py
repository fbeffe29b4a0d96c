"""kanta's benchmark suite: `python -m bench` (or `python -m bench --quick`); see README.md."""

RESULT_PREFIX = "BENCH-RESULT "  # marks a worker's result line on its stdout
