# System-side integration for Chromium, which Home Manager installs: dconf for its settings,
# XDG desktop portals over D-Bus (file chooser, screen sharing). No package is installed here.
args@{ config, lib, pkgs, ... }:

(import ../../lib { inherit lib; }).mkAppIntegration {
  name = "chromium";
  description = "Chromium (dconf, D-Bus, XDG portals)";
  dconf = true;
  portals = true;
} args
