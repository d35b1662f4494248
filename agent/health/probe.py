"""The system capture's probe: a lookup and a connection made as an ordinary, unprivileged user,
the way any app makes them, which must both be answered by Candor.

`candor selfcheck --probe --user candor-probe`, run by the system install's root timer, reads
the probe's canary name from the home (only root and Candor's user can), then, as the probe
user, looks the name up through the system's resolver (`getaddrinfo`: /etc/resolv.conf, which
the capture sends to Candor's DNS) and asks for `http://NAME/` with no proxy. Candor answers
both; the agent notes the request's arrival, and a probe missing for several rounds is
journaled by the agent (agent/health/capture_guard.py), not by the probe.
"""

from __future__ import annotations

import codecs
import http.client
import os
import pwd
import socket
import sys

from agent.config import Home
from agent.proxy.addons.canary import CANARY_HEADER, PROBE_FILE

TIMEOUT = 10.0


class ProbeError(Exception):
    """The probe could not be made, or Candor did not answer it; the message says which."""


def probe_name(home: Home) -> str:
    """The probe's canary name the running agent wrote; ProbeError if there is none."""
    try:
        name = (home.state_dir / PROBE_FILE).read_text("ascii").strip()
    except OSError as exc:
        raise ProbeError(
            f"Candor's probe name cannot be read in {home.state_dir} ({exc.strerror}): "
            "is Candor running with --transparent?"
        ) from None
    if not name:
        raise ProbeError(f"{home.state_dir / PROBE_FILE} is empty")
    return name


def probe(name: str, timeout: float = TIMEOUT) -> None:
    """Look `name` up and ask for `http://name/` at each address found, as an app would, until
    one answers: returns when Candor answered, else ProbeError."""
    try:
        found = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ProbeError(f"the lookup of Candor's test name failed ({exc})") from None
    problems = []
    for host in dict.fromkeys(str(info[4][0]) for info in found):
        try:
            _ask(name, host, timeout)
            return
        except ProbeError as exc:
            problems.append(str(exc))
    raise ProbeError("; ".join(problems))


def _ask(name: str, host: str, timeout: float) -> None:
    """Ask `host` for `http://name/`; ProbeError unless Candor's canary header comes back."""
    connection = http.client.HTTPConnection(host, 80, timeout=timeout)
    try:
        connection.request("GET", "/", headers={"Host": name, "Connection": "close"})
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ProbeError(f"the connection to Candor's test name ({host}) failed ({exc})") from None
    finally:
        connection.close()
    if response.getheader(CANARY_HEADER) != "1":
        raise ProbeError(
            f"the connection to Candor's test name ({host}) was answered by something else"
        )


def probe_as(name: str, user: str | None) -> None:
    """`probe(name)`, as `user` when given (dropped to in a child process: this one stays root)."""
    if user is None:
        probe(name)
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ProbeError(f"there is no user {user!r} to make the probe as") from None
    if os.geteuid() != 0:
        raise ProbeError(f"only root can make the probe as {user}")
    codecs.lookup("idna")  # loaded now: the probe user may not be able to read Python's files
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the probe user for good, probe, report, exit
        os.close(read)
        code, message = 0, b""
        try:
            os.setgroups([])
            os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
            os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)
            probe(name)
        except ProbeError as exc:
            code, message = 1, str(exc).encode()
        except BaseException as exc:  # the child must always exit here
            code, message = 2, f"the probe failed ({exc})".encode()
        os.write(write, message)
        os.close(write)
        sys.stdout.flush()
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as said:
        message = said.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise ProbeError(message or "the probe failed")
