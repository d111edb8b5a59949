# System-side integration for Chromium, which Home Manager installs: dconf for its settings,
# XDG desktop portals over D-Bus (file chooser, screen sharing). No package is installed here.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf;
  hwcLib = import ../lib.nix { inherit lib; };
  inherit (hwcLib) weak;
  cfg = config.hwc.infrastructure.session.chromium;
in
{
  options.hwc.infrastructure.session.chromium.enable = mkEnableOption "the system side of Chromium (dconf, D-Bus, XDG portals); Home Manager installs the browser";

  config = mkIf cfg.enable {
    # Defaults: a user who turns one of these off keeps it off.
    programs.dconf.enable = weak true;
    services.dbus.enable = weak true;
    xdg.portal = {
      enable = weak true;
      extraPortals = [ pkgs.xdg-desktop-portal-gtk ];
      config.common.default = weak "*";
    };
  };
}
