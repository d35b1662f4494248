"""Who may read Candor's status pages through the proxy: the person, never another local user.

Any program on this computer can connect to the proxy, and in system mode every user's traffic
goes through it, so the address `candor.invalid` alone says nothing about who asks. The kernel
does: /proc/net/tcp names the user holding the client's end of the connection. The pages show
the journal and the next report, so they are answered to root, to the user the agent runs as,
and, for the shared system home, to the members of its group (candor-admin); to nobody else.
Where /proc cannot tell (macOS, Windows) they are answered only for a home that is not shared.
"""

from __future__ import annotations

import grp
import os
import pwd

from agent.config import Home
from agent.proxy.socket_owners import Address, connection_uid


def may_read(home: Home, client: Address, proxy: Address) -> bool:
    """Whether the program at `client`, connected to the proxy at `proxy`, is the person's."""
    uid = connection_uid(client, proxy)
    if uid is None:
        return not home.is_shared()
    if uid in (0, os.getuid()):
        return True
    return home.is_shared() and in_group(uid, home.root.stat().st_gid)


def in_group(uid: int, gid: int) -> bool:
    """Whether the user `uid` belongs to the group `gid` (as primary or listed member)."""
    try:
        user = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return user.pw_gid == gid or user.pw_name in group.gr_mem
