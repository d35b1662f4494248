"""Settings stores: read a setting's current value, change it, put the old one back.

Each store speaks through its own command-line tool (gsettings, kwriteconfig, networksetup,
reg), so what Candor does is exactly what a person could type, and the plan can print it.
A store's `read` returns a small JSON-able "prior" that its `restore` understands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, ClassVar, Protocol

from installers.plan import Argv, Setting

Runner = Callable[[Argv], str]
"""Runs a command as the person (never as administrator) and returns its output."""

_UNSET = "__candor_unset__"


class Store(Protocol):
    """One settings backend: how to print, read, change, check and restore one setting."""

    def argv(self, setting: Setting) -> Argv:
        """The command that makes the change, as the plan prints it."""
        ...

    def mismatch(self, setting: Setting, run: Runner) -> str | None:
        """What differs from the installed value now, in words; None when it is as installed."""
        ...

    def read(self, setting: Setting, run: Runner) -> dict[str, Any]:
        """The current value as a JSON-able prior, recorded before the change."""
        ...

    def write(self, setting: Setting, run: Runner) -> None:
        """Make the change."""
        ...

    def restore(self, setting: Setting, prior: dict[str, Any], run: Runner) -> None:
        """Put back what `read` recorded."""
        ...


class GSettings:
    """GNOME's settings (dconf, or GLib's keyfile backend in tests)."""

    def argv(self, setting: Setting) -> Argv:
        """`gsettings set SCHEMA KEY VALUE`."""
        schema, key = setting.key
        return ("gsettings", "set", schema, key, setting.value)

    def read(self, setting: Setting, run: Runner) -> dict[str, Any]:
        """The value, and whether it was set explicitly (else undo resets it to the default)."""
        schema, key = setting.key
        value = run(("gsettings", "get", schema, key)).strip()
        explicit = True
        if setting.file is not None:
            explicit = _keyfile_has(Path(setting.file), _dconf_group(schema), key)
        return {"value": value, "explicit": explicit}

    def write(self, setting: Setting, run: Runner) -> None:
        """Run `gsettings set`."""
        run(self.argv(setting))

    def restore(self, setting: Setting, prior: dict[str, Any], run: Runner) -> None:
        """Set the previous value back, or reset a key that was never set."""
        schema, key = setting.key
        if prior.get("explicit", True):
            run(("gsettings", "set", schema, key, prior["value"]))
        else:
            run(("gsettings", "reset", schema, key))

    def current(self, setting: Setting, run: Runner) -> str:
        """The key's value now, as `gsettings get` prints it (GVariant text)."""
        schema, key = setting.key
        return run(("gsettings", "get", schema, key)).strip()

    def mismatch(self, setting: Setting, run: Runner) -> str | None:
        """The key's value now, in words, when it is not the installed one."""
        now = self.current(setting, run)
        return None if now == setting.value else f"{' '.join(setting.key)} is {now}"


def _dconf_group(schema: str) -> str:
    return schema.removeprefix("org.gnome.").replace(".", "/")


def _keyfile_has(path: Path, group: str, key: str) -> bool:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError:
        return False
    current = None
    for line in lines:
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == group and line.split("=", 1)[0].strip() == key:
            return True
    return False


class KConfig:
    """KDE's config files, through kwriteconfig5 or kwriteconfig6."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.reader = tool.replace("kwrite", "kread")

    def argv(self, setting: Setting) -> Argv:
        """`kwriteconfigN --file F --group G --key K VALUE`."""
        file, group, key = setting.key
        return (self.tool, "--file", file, "--group", group, "--key", key, setting.value)

    def read(self, setting: Setting, run: Runner) -> dict[str, Any]:
        """The value, or None when the key is not set (undo then deletes it)."""
        value = self.current(setting, run)
        return {"value": None if value == _UNSET else value}

    def current(self, setting: Setting, run: Runner) -> str:
        """The key's value now through kreadconfig, or a marker when it is not set."""
        file, group, key = setting.key
        argv = (self.reader, "--file", file, "--group", group, "--key", key, "--default", _UNSET)
        return run(argv).rstrip("\n")

    def mismatch(self, setting: Setting, run: Runner) -> str | None:
        """The key's value now, in words, when it is not the installed one."""
        now = self.current(setting, run)
        if now == setting.value:
            return None
        shown = "not set" if now == _UNSET else f"is {now}"
        return f"{setting.key[0]} [{setting.key[1]}] {setting.key[2]} {shown}"

    def write(self, setting: Setting, run: Runner) -> None:
        """Run kwriteconfig."""
        run(self.argv(setting))

    def restore(self, setting: Setting, prior: dict[str, Any], run: Runner) -> None:
        """Write the previous value back, or delete a key that was not set."""
        file, group, key = setting.key
        base = (self.tool, "--file", file, "--group", group, "--key", key)
        run((*base, "--delete") if prior["value"] is None else (*base, prior["value"]))


class NetworkSetup:
    """macOS: the web or secure web proxy of every network service.

    Services are listed when the step runs, not when the plan is built: an adapter added
    later (a phone hotspot) is caught by the self-check, and a re-install covers it.
    """

    FLAGS: ClassVar[dict[str, str]] = {"web": "webproxy", "secure": "securewebproxy"}

    def argv(self, setting: Setting) -> Argv:
        """`networksetup -set(secure)webproxy {service} HOST PORT`, run once per service."""
        host, port = setting.value.rsplit(":", 1)
        return ("networksetup", f"-set{self.FLAGS[setting.key[0]]}", "{service}", host, port)

    def services(self, run: Runner) -> list[str]:
        """The enabled network services now (a new adapter shows up here)."""
        return parse_services(run(("networksetup", "-listallnetworkservices")))

    def read(self, setting: Setting, run: Runner) -> dict[str, Any]:
        """Each service's proxy now, so undo restores each one."""
        flag = self.FLAGS[setting.key[0]]
        return {
            "services": {
                svc: parse_proxy(run(("networksetup", f"-get{flag}", svc)))
                for svc in self.services(run)
            }
        }

    def mismatch(self, setting: Setting, run: Runner) -> str | None:
        """The services whose proxy does not point at Candor, in words."""
        host, port = setting.value.rsplit(":", 1)
        flag = self.FLAGS[setting.key[0]]
        wrong = []
        for svc in self.services(run):
            now = parse_proxy(run(("networksetup", f"-get{flag}", svc)))
            if not (now["enabled"] and now["server"] == host and str(now["port"]) == port):
                wrong.append(svc)
        if not wrong:
            return None
        return f"the {setting.key[0]} proxy of {', '.join(wrong)} does not point at Candor"

    def write(self, setting: Setting, run: Runner) -> None:
        """Point every service's proxy at Candor."""
        for svc in self.services(run):
            run(tuple(svc if a == "{service}" else a for a in self.argv(setting)))

    def restore(self, setting: Setting, prior: dict[str, Any], run: Runner) -> None:
        """Put each recorded service's proxy back, switched off if it was off."""
        flag = self.FLAGS[setting.key[0]]
        for svc, was in prior["services"].items():
            if was.get("server"):
                run(("networksetup", f"-set{flag}", svc, was["server"], str(was["port"])))
            if not was.get("enabled"):
                run(("networksetup", f"-set{flag}state", svc, "off"))


def parse_services(text: str) -> list[str]:
    """`networksetup -listallnetworkservices`: skip the header and disabled (`*`) services."""
    lines = [line.strip() for line in text.splitlines()[1:]]
    return [line for line in lines if line and not line.startswith("*")]


def parse_proxy(text: str) -> dict[str, Any]:
    """`networksetup -getwebproxy SERVICE`: enabled, server and port."""
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in text.splitlines())
    )
    port = fields.get("Port", "0")
    return {
        "enabled": fields.get("Enabled", "No") == "Yes",
        "server": fields.get("Server", ""),
        "port": int(port) if port.isdigit() else 0,
    }


class Registry:
    """Windows: one value under HKEY_CURRENT_USER, through reg.exe."""

    def argv(self, setting: Setting) -> Argv:
        """`reg add HKCU\\... /v NAME /t KIND /d VALUE /f`."""
        subkey, name, kind = setting.key
        return ("reg", "add", f"HKCU\\{subkey}", "/v", name, "/t", kind, "/d", setting.value, "/f")

    def read(self, setting: Setting, run: Runner) -> dict[str, Any]:
        """The value, or None when it is not set (undo then deletes it)."""
        subkey, name, _ = setting.key
        try:
            text = run(("reg", "query", f"HKCU\\{subkey}", "/v", name))
        except StepCommandFailed:
            return {"value": None}
        return {"value": parse_reg_value(text, name)}

    def mismatch(self, setting: Setting, run: Runner) -> str | None:
        """The value now, in words, when it is not the installed one."""
        now = self.read(setting, run)["value"]
        if now == setting.value:
            return None
        return f"{setting.key[1]} is {'not set' if now is None else now}"

    def write(self, setting: Setting, run: Runner) -> None:
        """Run `reg add`."""
        run(self.argv(setting))

    def restore(self, setting: Setting, prior: dict[str, Any], run: Runner) -> None:
        """Write the previous value back, or delete a value that was not set."""
        subkey, name, kind = setting.key
        key = f"HKCU\\{subkey}"
        if prior["value"] is None:
            run(("reg", "delete", key, "/v", name, "/f"))
        else:
            run(("reg", "add", key, "/v", name, "/t", kind, "/d", prior["value"], "/f"))


def parse_reg_value(text: str, name: str) -> str | None:
    """`reg query ... /v NAME`: the value (a DWORD as decimal), or None when it is absent."""
    for line in text.splitlines():
        parts = re.split(r"\s{2,}|\t", line.strip(), maxsplit=2)
        if len(parts) == 3 and parts[0] == name:
            kind, value = parts[1], parts[2]
            return str(int(value, 16)) if kind == "REG_DWORD" else value
    return None


class StepCommandFailed(Exception):
    """A command a step ran exited non-zero; the message names it and quotes its error."""


def store_for(name: str) -> Store:
    """The backend a `Setting` names, so a recorded step is undone by the same tool."""
    if name == "gsettings":
        return GSettings()
    if name.startswith("kwriteconfig"):
        return KConfig(name)
    if name == "networksetup":
        return NetworkSetup()
    if name == "registry":
        return Registry()
    raise ValueError(f"unknown settings store {name!r}")


def tidy_file(path: PurePath) -> bool:
    """Remove a settings file that holds nothing but empty groups; True if removed."""
    p = Path(path)
    try:
        lines = p.read_text("utf-8").splitlines()
    except OSError:
        return False
    if all(not line.strip() or line.strip().startswith("[") for line in lines):
        p.unlink()
        return True
    return False
