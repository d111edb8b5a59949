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
{
  config,
  lib,
  pkgs,
  osConfig ? null,
  ...
}:

let
  inherit (lib) mkEnableOption mkIf mkOption types;
  cfg = config.hwc.session;
  package = cfg.package;
  gpuLaunch = "${package}/bin/gpu-launch";
  # Hyprland's modifier words and sway's names for the same keys.
  modifiers = {
    SUPER = "Mod4";
    WIN = "Mod4";
    LOGO = "Mod4";
    META = "Mod4";
    MOD4 = "Mod4";
    ALT = "Mod1";
    MOD1 = "Mod1";
    CTRL = "Control";
    CONTROL = "Control";
    SHIFT = "Shift";
  };
  swayKey =
    combo:
    lib.concatStringsSep "+" (
      map (k: modifiers.${lib.toUpper k} or (lib.toLower k)) (
        clean (lib.splitString " " (lib.replaceStrings [ "," ] [ " " ] combo))
      )
    );
  # Desktop entries of common apps as their packages name them (nixpkgs' chromium ships
  # chromium-browser.desktop): hwc's entry takes the same id, so it replaces the package's in
  # every launcher and as the handler of the same types.
  browser = {
    categories = [ "Network" "WebBrowser" ];
    mimeType = [ "text/html" "x-scheme-handler/http" "x-scheme-handler/https" ];
  };
  known = {
    chromium = browser // {
      desktopId = "chromium-browser";
      icon = "chromium";
      name = "Chromium";
      wmClass = "chromium-browser";
    };
    google-chrome-stable = browser // {
      desktopId = "google-chrome";
      icon = "google-chrome";
      name = "Google Chrome";
      wmClass = "Google-chrome";
    };
    firefox = browser // {
      desktopId = "firefox";
      name = "Firefox";
      wmClass = "firefox";
    };
    obs = {
      desktopId = "com.obsproject.Studio";
      name = "OBS Studio";
      wmClass = "obs";
      categories = [ "AudioVideo" "Recorder" ];
    };
    blender = {
      desktopId = "blender";
      name = "Blender";
      wmClass = "Blender";
      categories = [ "Graphics" "3DGraphics" ];
      mimeType = [ "application/x-blender" ];
    };
  };
  appName = "[A-Za-z0-9][A-Za-z0-9._+-]*";
  gpuApp = types.submodule (
    { config, ... }:
    let
      k = known.${config.command} or { };
    in
    {
      options = {
        command = mkOption {
          type = types.strMatching appName;
          description = "The program, as gpu-launch runs it.";
        };
        desktopId = mkOption {
          type = types.strMatching appName;
          default = k.desktopId or config.command;
          description = "The id of the package's desktop entry (its file name without .desktop), which hwc's replaces.";
        };
        name = mkOption {
          type = types.str;
          default = k.name or (lib.toUpper (lib.substring 0 1 config.command) + lib.substring 1 (-1) config.command);
        };
        wmClass = mkOption {
          type = types.str;
          default = k.wmClass or config.command;
        };
        icon = mkOption {
          type = types.str;
          default = k.icon or config.desktopId;
        };
        categories = mkOption {
          type = types.listOf types.str;
          default = k.categories or [ ];
        };
        mimeType = mkOption {
          type = types.listOf types.str;
          default = k.mimeType or [ ];
        };
      };
    }
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

    init.enable = mkEnableOption "hwc-session-init as this user's service on graphical-session.target (for a machine without hwc's NixOS session services; with them it is there for every user, with the declared secrets)";

    gpuApps = mkOption {
      type = types.listOf (types.coercedTo (types.strMatching appName) (command: { inherit command; }) gpuApp);
      default = [ ];
      example = [ "chromium" { command = "krita"; desktopId = "org.kde.krita"; name = "Krita"; } ];
      description = "Apps started through gpu-launch from their desktop entries: each gets an entry with its package's id (chromium: chromium-browser; others: give desktopId) running `gpu-launch COMMAND %U`, which Home Manager's profile puts ahead of the package's.";
    };

    keybindings = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        "SUPER, B" = "chromium";
      };
      description = "Keys (Hyprland's notation: SUPER, ALT, CTRL, SHIFT and a key) that start an app through gpu-launch; keybindLines has them for Hyprland and sway.";
    };

    keybindLines = mkOption {
      type = types.attrsOf (types.listOf types.str);
      readOnly = true;
      description = "The keybindings as configuration lines, for a compositor configured by hand: hyprland and sway.";
    };

    apps = mkOption {
      type = types.listOf (types.strMatching appName);
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
      # The same unit name as the NixOS module's: the user's own would hide that one, and with
      # it the secrets the machine declares for the session.
      warnings = lib.optional (osConfig.hwc.infrastructure.session.services.sessionInit.enable or false) "hwc.session.init.enable: the NixOS configuration already runs hwc-session-init for every user (hwc.infrastructure.session.services.sessionInit.enable); this user's own unit hides it and its --secret settings. Turn one off.";
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
      xdg.desktopEntries = lib.listToAttrs (
        map (app: {
          name = app.desktopId;
          value = {
            inherit (app) name categories;
            genericName = "${app.name} on the discrete GPU";
            exec = "${gpuLaunch} ${app.command} %U";
            inherit (app) icon;
            terminal = false;
            mimeType = app.mimeType;
            settings.StartupWMClass = app.wmClass;
          };
        }) cfg.gpuApps
      );
    })

    (mkIf (cfg.apps != [ ]) {
      xdg.configFile."hwc/apps.json".text = builtins.toJSON { apps = lib.unique cfg.apps; };
    })
  ];
}
