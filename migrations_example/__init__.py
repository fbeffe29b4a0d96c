"""A runnable example of kanta schema migrations: see README.md."""
