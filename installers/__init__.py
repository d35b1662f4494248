"""Wiring Candor into the operating system: plans as data, applied and undone by one executor."""
