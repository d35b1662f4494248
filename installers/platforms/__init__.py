"""Pure plan builders, one per operating system: what `candor install` changes there."""
