"""Notifications to SNS: the message model, the once-only ledger, the publisher and delivery.

The rules that turn silver rows into notifications are transforms
(:mod:`pipelines.transforms.notifications`); :mod:`pipelines.notifications.stream` wires them
into a streaming batch after its Delta commits. See docs/notifications.md.
"""
