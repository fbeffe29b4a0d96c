"""Pure on live objects: change tracking (the shadow copy, the audit), encoding a change with its read-back check, copies and kinds of values."""
