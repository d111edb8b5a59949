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
      default = pkgs.hwc or (pkgs.callPackage ../../package.nix { });
      defaultText = lib.literalExpression "pkgs.hwc (the flake's overlay), else pkgs.callPackage ./install/nix/package.nix { }";
      description = "The hwc package that every hwc.infrastructure module runs.";
    };

    initrd.enable = mkEnableOption "hwc and every applet link in the initrd, for rescue shells and early networking (scripted and systemd stage 1)";
  };

  config = mkMerge [
    (mkIf cfg.enable {
      environment.systemPackages = [ commands ];
    })

    # hwc in the initrd's shell, by the mechanism of the stage 1 the machine boots with.
    (mkIf (cfg.initrd.enable && config.boot.initrd.systemd.enable) {
      # systemd stage 1 (NixOS's default since 26.05): nixos/modules/system/boot/systemd/initrd.nix
      # links the bin/ of every initrdBin package into the initrd's /bin and /sbin, the emergency
      # shell's PATH, and copies their closure. The package's bin/ holds hwc and every applet link.
      boot.initrd.systemd.initrdBin = [ hwc ];
    })
    (mkIf (cfg.initrd.enable && !config.boot.initrd.systemd.enable) {
      # Scripted stage 1 (boot.initrd.systemd.enable = false): extra-utils' bin/ is the shell's
      # PATH. The static binary needs no libraries; the links are recreated beside it, and the
      # initrd's build checks that the copy runs.
      boot.initrd.extraUtilsCommands = ''
        copy_bin_and_libs ${hwc}/bin/hwc
        for applet in ${lib.escapeShellArgs hwcLib.applets}; do
          ln -sf hwc "$out/bin/$applet"
        done
      '';
      boot.initrd.extraUtilsCommandsTest = ''
        $out/bin/hwc --list >/dev/null
      '';
    })
  ];
}
