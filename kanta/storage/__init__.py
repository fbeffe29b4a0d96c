"""The only code that opens, locks, writes, syncs or deletes files, or runs threads: the locked file, side files, the background writer, rotation."""
