"""Thin Spark entry points, one per application: parse settings, get the session, wire it up."""
