# hwc's Home Manager module (the flake's homeManagerModules.default / .hwc): the user's side of
# the session and app pattern.
#
# - hwc.session.init.enable: hwc-session-init as the user's own service on the graphical session
#   (graphical-session.target, as Hyprland's and sway's Home Manager modules start it), instead
#   of wiring it by hand; the NixOS module's system-wide user unit does the same for every user.
# - hwc.session.gpuApps: apps whose desktop entries (and so every launcher: rofi, fuzzel, GNOME,
#   KDE) start them through gpu-launch, on the discrete GPU as a keybinding would; and
#   hwc.session.keybindings, the lines for Hyprland and sway that bind keys to the same.
# - hwc.session.apps: the apps this user's Home Manager installs that need a system side
#   (hwc.infrastructure.session.<app>.enable), written to ~/.config/hwc/apps.json, which
#   hwc-doctor holds against the machine's declaration.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf mkOption types;
  cfg = config.hwc.session;
  package = cfg.package;
  gpuLaunch = "${package}/bin/gpu-launch";
  # Hyprland's modifier words and sway's names for the same keys.
  swayKey =
    combo:
    lib.concatStringsSep "+" (
      map (
        k:
        {
          SUPER = "Mod4";
          ALT = "Mod1";
          CTRL = "Control";
          SHIFT = "Shift";
        }
        .${k} or (lib.toLower k)
      ) (clean (lib.splitString " " (lib.replaceStrings [ "," ] [ " " ] combo)))
    );
  clean = lib.filter (w: w != "");
  hyprLine = combo: app: "bind = ${combo}, exec, ${gpuLaunch} ${app}";
  swayLine = combo: app: "bindsym ${swayKey combo} exec ${gpuLaunch} ${app}";
in
{
  options.hwc.session = {
    package = mkOption {
      type = types.package;
      default = pkgs.hwc or (pkgs.callPackage ../package.nix { });
      defaultText = lib.literalExpression "pkgs.hwc (the flake's overlay), else install/nix/package.nix";
      description = "The hwc package whose applets the user's services and entries run.";
    };

    init.enable = mkEnableOption "hwc-session-init as this user's service on graphical-session.target";

    gpuApps = mkOption {
      type = types.listOf (types.strMatching "[A-Za-z0-9][A-Za-z0-9._+-]*");
      default = [ ];
      example = [ "chromium" "blender" ];
      description = "Apps started through gpu-launch from their desktop entries: each APP gets ~/.local/share/applications/APP.desktop (over the package's own) running `gpu-launch APP %U`.";
    };

    keybindings = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        "SUPER, B" = "chromium";
      };
      description = "Keys (Hyprland's notation) that start an app through gpu-launch: given to Hyprland's and sway's Home Manager modules when they are on.";
    };

    keybindLines = mkOption {
      type = types.attrsOf (types.listOf types.str);
      readOnly = true;
      description = "The keybindings as configuration lines, for a compositor configured by hand: hyprland and sway.";
    };

    apps = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "chromium" "obs" ];
      description = "Apps this Home Manager installs whose system side must be on (hwc.infrastructure.session.<app>.enable); hwc-doctor checks each.";
    };
  };

  config = lib.mkMerge [
    {
      hwc.session.keybindLines = {
        hyprland = lib.mapAttrsToList hyprLine cfg.keybindings;
        sway = lib.mapAttrsToList swayLine cfg.keybindings;
      };
    }

    (mkIf cfg.init.enable {
      systemd.user.services.hwc-session-init = {
        Unit = {
          Description = "hwc session plumbing (environment import, XDG directories, GPU variables)";
          PartOf = [ "graphical-session.target" ];
          After = [ "graphical-session-pre.target" ];
          Before = [ "graphical-session.target" ];
        };
        Service = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${package}/bin/hwc-session-init";
          ExecStop = "${package}/bin/hwc-session-init --stop";
        };
        Install.WantedBy = [ "graphical-session.target" ];
      };
    })

    (mkIf (cfg.gpuApps != [ ]) {
      xdg.desktopEntries = lib.genAttrs cfg.gpuApps (app: {
        name = lib.toUpper (lib.substring 0 1 app) + lib.substring 1 (-1) app;
        genericName = "${app} on the discrete GPU";
        exec = "${gpuLaunch} ${app} %U";
        icon = app;
        terminal = false;
        settings.StartupWMClass = app;
      });
    })

    (mkIf (cfg.apps != [ ]) {
      xdg.configFile."hwc/apps.json".text = builtins.toJSON { apps = clean cfg.apps; };
    })
  ];
}
