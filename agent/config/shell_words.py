"""Commands Candor suggests to the person, quoted so that pasting one runs only that command.

A URL, a host or a rule in a suggested command can come from a web page (the address it was
reached at), so each word is quoted for a POSIX shell: `;`, `$(...)`, quotes and spaces stay
part of the word they are in.
"""

from __future__ import annotations

import shlex


def command_line(*words: str) -> str:
    """`words` as one line to paste into a shell; plain words stay unquoted, as typed."""
    return " ".join(shlex.quote(word) for word in words)
