"""Pure transformations ``DataFrame -> DataFrame``: no I/O, no session, no settings; chain with ``df.transform``."""
