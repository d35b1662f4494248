"""How what the reporter built reaches the partner: the outbox, the composer, the channels."""
