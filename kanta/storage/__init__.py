"""The only code that opens, locks, writes, syncs or deletes files, or runs threads: the
locked log file, files beside it, the background writer, rotation.
"""
