"""Sinks: Delta Lake tables through delta-rs, SNS notifications."""
