"""Public block lists: their formats, and one streaming reader per format."""
