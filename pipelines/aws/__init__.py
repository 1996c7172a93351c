"""AWS clients, configured from the standard AWS environment only."""
