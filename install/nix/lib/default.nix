# hwc's Nix library, for configurations that follow the domain's app pattern: the flake's `lib`
# output, or without flakes `import ./install/nix/lib { inherit lib; }`.
#
# - gatherSys [ dirs ]: every `*/sys.nix` one level down in each directory, in a stable order
#   (directories in the order given, apps by name), for `imports` in profiles/sys.nix: profiles
#   never import a sys.nix by hand.
# - mkAppIntegration { name; ... }: the module of an app's system side (a domains/home/apps/
#   NAME/sys.nix): the option hwc.infrastructure.session.NAME.enable and, when it is on, the
#   system services the app needs, each at a priority a user's own setting overrides. It never
#   installs a package: Home Manager does that.
{ lib }:

let
  inherit (lib) mkIf mkMerge;
  # The priority of what hwc sets, the domain's own (below a user's setting, above the option's
  # default).
  inherit (import ../infrastructure/lib.nix { inherit lib; }) weak;
in
{
  gatherSys =
    dirs:
    lib.concatMap (
      dir:
      let
        entries = builtins.readDir dir;
        apps = lib.sort lib.lessThan (
          lib.attrNames (lib.filterAttrs (_: type: type == "directory") entries)
        );
      in
      map (app: dir + "/${app}/sys.nix") (
        lib.filter (app: builtins.pathExists (dir + "/${app}/sys.nix")) apps
      )
    ) dirs;

  mkAppIntegration =
    {
      # The app's name: its option is hwc.infrastructure.session.<name>.enable.
      name,
      # What it is, for the option's description.
      description ? name,
      # The system D-Bus (apps talk to portals, notifications and secrets over it).
      dbus ? true,
      # dconf's system service (GTK apps keep their settings there).
      dconf ? false,
      # XDG desktop portals (file chooser, screen sharing), with the GTK backend.
      portals ? false,
      # Packages whose udev rules the system takes (device access: controllers, tablets, ...).
      udevPackages ? [ ],
      # Kernel modules loaded at boot, those of the kernel's packages named (kernelPackages
      # attribute names), and their modprobe options.
      kernelModules ? [ ],
      kernelModulePackages ? [ ],
      modprobeConfig ? "",
      # 32-bit graphics drivers (games under Proton, the Steam runtime), on x86_64.
      graphics32 ? false,
      # Other NixOS settings the app needs, as a function of the configuration; each at the same
      # weak priority is the caller's to choose (wrap them in weak, given here).
      extraConfig ? (_: { }),
    }:
    { config, pkgs, ... }:
    let
      cfg = config.hwc.infrastructure.session.${name};
    in
    {
      options.hwc.infrastructure.session.${name}.enable = lib.mkEnableOption "the system side of ${description} (Home Manager installs the app)";

      # Only the settings this app needs are made (the options are those of NixOS 24.11 and
      # later: hardware.graphics).
      config = mkIf cfg.enable (mkMerge [
        # Named in the machine's declaration, where hwc-doctor holds the user's Home Manager
        # apps against it.
        { hwc.infrastructure.session.appIntegrations = [ name ]; }
        # Each piece apart: two that begin with the same option (services.dbus, services.udev)
        # merge as the module system merges, not as `//` would (the second replacing the first).
        (lib.optionalAttrs dbus { services.dbus.enable = weak true; })
        (lib.optionalAttrs dconf { programs.dconf.enable = weak true; })
        (lib.optionalAttrs portals {
          xdg.portal = {
            enable = weak true;
            extraPortals = [ pkgs.xdg-desktop-portal-gtk ];
            config.common.default = weak "*";
          };
        })
        (lib.optionalAttrs (udevPackages != [ ]) { services.udev.packages = udevPackages; })
        (lib.optionalAttrs (kernelModules != [ ]) { boot.kernelModules = kernelModules; })
        (lib.optionalAttrs (kernelModulePackages != [ ]) {
          boot.extraModulePackages = map (p: config.boot.kernelPackages.${p}) kernelModulePackages;
        })
        (lib.optionalAttrs (modprobeConfig != "") { boot.extraModprobeConfig = modprobeConfig; })
        (lib.optionalAttrs graphics32 {
          hardware.graphics = {
            enable = weak true;
            # 32-bit programs run on x86_64 alone: NixOS refuses enable32Bit elsewhere (as its
            # own programs.steam sets it).
            enable32Bit = weak pkgs.stdenv.hostPlatform.isx86_64;
          };
        })
        # Where it asked for them, named in the declaration too: hwc-doctor then looks for the
        # 32-bit drivers, on the platform this configuration is for (not the doctor's own).
        (lib.optionalAttrs graphics32 (
          mkIf pkgs.stdenv.hostPlatform.isx86_64 { hwc.infrastructure.session.graphics32Apps = [ name ]; }
        ))
        (extraConfig { inherit config pkgs weak; })
      ]);
    };
}
