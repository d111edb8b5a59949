#!/usr/bin/python3
# A stand-in for a systemd manager on a bus, for tests: owns org.freedesktop.systemd1 and answers
# org.freedesktop.systemd1.Manager's SetEnvironment, UnsetEnvironment, UnsetAndSetEnvironment and
# the Environment property (Properties.Get), with systemd's semantics (src/core/dbus-manager.c,
# strv_env_merge / strv_env_delete): a name without '=' unsets it; NAME=VALUE in UnsetEnvironment
# unsets it only while it holds exactly VALUE. And GetUnit / LoadUnit for the units given as
# NAME=ACTIVESTATE after the file: their objects answer the Unit interface's LoadState
# ("loaded") and ActiveState; any other unit is NoSuchUnit to GetUnit, "not-found" to LoadUnit,
# as systemd answers. Everything else a real manager does is left out. After each change it
# writes its environment, one assignment a line, to ENV_FILE.
#
#   DBUS_SESSION_BUS_ADDRESS=unix:path=... systemd-manager.py ENV_FILE [UNIT=STATE]...
import os
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"


def unit_path(name):
    # systemd's bus_label_escape: every byte but letters and digits as _XX.
    return "/org/freedesktop/systemd1/unit/" + "".join(
        c if c.isalnum() else "_%02x" % ord(c) for c in name)


class Unit(dbus.service.Object):
    def __init__(self, bus, name, load, active):
        super().__init__(bus, unit_path(name))
        self.props = {"Id": name, "LoadState": load, "ActiveState": active}

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, prop):
        if interface == UNIT and prop in self.props:
            return dbus.String(self.props[prop])
        raise dbus.exceptions.DBusException(
            "Unknown property", name="org.freedesktop.DBus.Error.UnknownProperty")


class Manager(dbus.service.Object):
    def __init__(self, bus, out, units):
        super().__init__(bus, "/org/freedesktop/systemd1")
        self.bus = bus
        self.env = {}
        self.out = out
        self.units = {n: Unit(bus, n, "loaded", s) for n, s in units.items()}
        self.save()

    @dbus.service.method(MANAGER, in_signature="s", out_signature="o")
    def GetUnit(self, name):
        if name not in self.units:
            raise dbus.exceptions.DBusException(
                "Unit %s not loaded." % name, name="org.freedesktop.systemd1.NoSuchUnit")
        return dbus.ObjectPath(unit_path(name))

    @dbus.service.method(MANAGER, in_signature="s", out_signature="o")
    def LoadUnit(self, name):
        if name not in self.units:
            self.units[name] = Unit(self.bus, name, "not-found", "inactive")
        return dbus.ObjectPath(unit_path(name))

    def save(self):
        with open(self.out + ".tmp", "w") as f:
            for k, v in self.env.items():
                f.write("%s=%s\n" % (k, v))
        os.rename(self.out + ".tmp", self.out)

    def unset(self, items):
        for item in items:
            name, eq, value = item.partition("=")
            if not eq or self.env.get(name) == value:
                self.env.pop(name, None)

    def set(self, items):
        for item in items:
            name, eq, value = item.partition("=")
            if not eq:
                raise dbus.exceptions.DBusException(
                    "Invalid environment assignment", name="org.freedesktop.DBus.Error.InvalidArgs")
            self.env[name] = value

    @dbus.service.method(MANAGER, in_signature="as", out_signature="")
    def SetEnvironment(self, items):
        self.set(items)
        self.save()

    @dbus.service.method(MANAGER, in_signature="as", out_signature="")
    def UnsetEnvironment(self, items):
        self.unset(items)
        self.save()

    @dbus.service.method(MANAGER, in_signature="asas", out_signature="")
    def UnsetAndSetEnvironment(self, names, items):
        self.unset(names)
        self.set(items)
        self.save()

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, prop):
        if interface == MANAGER and prop == "Environment":
            return dbus.Array(["%s=%s" % kv for kv in self.env.items()], signature="s")
        raise dbus.exceptions.DBusException(
            "Unknown property", name="org.freedesktop.DBus.Error.UnknownProperty")


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName("org.freedesktop.systemd1", bus)
    units = dict(a.split("=", 1) for a in sys.argv[2:])
    Manager(bus, sys.argv[1], units)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
