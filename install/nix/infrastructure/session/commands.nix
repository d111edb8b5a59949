# hwc on PATH: the binary and its applet links (gpu-launch only when asked), the package every
# hwc.infrastructure module runs, and hwc in the initrd (scripted and systemd stage 1).
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf mkMerge mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  cfg = config.hwc.infrastructure.session.commands;
  hwc = cfg.package;
  onPath = [ "hwc" ] ++ lib.filter (a: cfg.gpuLaunch || a != "gpu-launch") hwcLib.applets;
  # Links to the package's one binary, each named as the applet it runs (busybox style); the
  # package's own bin/ keeps every link for units and the initrd.
  commands = pkgs.linkFarm "hwc-commands" (
    map (name: {
      name = "bin/${name}";
      path = "${hwc}/bin/hwc";
    }) onPath
  );
in
{
  options.hwc.infrastructure.session.commands = {
    enable = mkEnableOption "hwc and its applets (gpu-launch, hwc-gpu-detect, hwc-perms, hwc-netlink, setup-ssh-keys, hwc-session-init, hwc-doctor) on every user's PATH";

    gpuLaunch = mkOption {
      type = types.bool;
      default = true;
      description = "Put gpu-launch (run a program on the discrete GPU) on PATH; false leaves it out.";
    };

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../../package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./install/nix/package.nix { }";
      description = "The hwc package that every hwc.infrastructure module runs (the flake sets its own).";
    };

    initrd.enable = mkEnableOption "hwc and every applet link in the initrd, for rescue shells and early networking (scripted and systemd stage 1)";
  };

  config = mkMerge [
    (mkIf cfg.enable {
      environment.systemPackages = [ commands ];
    })

    (mkIf cfg.initrd.enable {
      # Scripted stage 1: the static binary needs no libraries; the links are recreated.
      boot.initrd.extraUtilsCommands = ''
        copy_bin_and_libs ${hwc}/bin/hwc
        for applet in ${lib.escapeShellArgs hwcLib.applets}; do
          ln -sf hwc "$out/bin/$applet"
        done
      '';
      # systemd stage 1: the package's bin/, links included.
      boot.initrd.systemd.initrdBin = [ hwc ];
    })
  ];
}
