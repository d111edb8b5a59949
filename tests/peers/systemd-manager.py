#!/usr/bin/python3
# A stand-in for the systemd user manager's environment on a session bus, for tests: owns
# org.freedesktop.systemd1 and answers org.freedesktop.systemd1.Manager's SetEnvironment,
# UnsetEnvironment, UnsetAndSetEnvironment and the Environment property (Properties.Get), with
# systemd's semantics (src/core/dbus-manager.c, strv_env_merge / strv_env_delete): a name
# without '=' unsets it; NAME=VALUE in UnsetEnvironment unsets it only while it holds exactly
# VALUE. Everything else a real manager does is left out. After each change it writes its
# environment, one assignment a line, to the file named by its first argument.
#
#   DBUS_SESSION_BUS_ADDRESS=unix:path=... systemd-manager.py ENV_FILE
import os
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

MANAGER = "org.freedesktop.systemd1.Manager"


class Manager(dbus.service.Object):
    def __init__(self, bus, out):
        super().__init__(bus, "/org/freedesktop/systemd1")
        self.env = {}
        self.out = out
        self.save()

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
    Manager(bus, sys.argv[1])
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
