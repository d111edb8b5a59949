# NixOS options that the hwc modules' users set beside them (the flake's example machine, the
# README's service behind a mount) and ../shared/vendor/nixos-subset does not declare, each as
# nixpkgs declares it, its file named (types and defaults as read there; descriptions left out).
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption types;
  cfg = config.services.jellyfin;
in
{
  options = {
    # nixos/modules/tasks/network-interfaces.nix
    networking.hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };

    # nixos/modules/misc/version.nix
    system.stateVersion = mkOption {
      type = types.str;
      default = lib.trivial.release;
    };

    # nixos/modules/system/boot/loader/systemd-boot/systemd-boot.nix
    boot.loader.systemd-boot.enable = lib.mkEnableOption "the systemd-boot (formerly gummiboot) EFI boot manager";

    # nixos/modules/misc/nixpkgs.nix (a system double or an elaborated platform)
    nixpkgs.hostPlatform = mkOption {
      type = types.either types.str types.attrs;
    };
    # nixos/modules/misc/nixpkgs.nix
    nixpkgs.overlays = mkOption {
      type = types.listOf (lib.mkOptionType {
        name = "nixpkgs-overlay";
        check = lib.isFunction;
        merge = lib.mergeOneOption;
      });
      default = [ ];
    };

    # nixos/modules/misc/nixpkgs.nix (its own mergeable type; attributes of anything here)
    nixpkgs.config = mkOption {
      type = types.attrsOf types.anything;
      default = { };
    };

    # nixos/modules/hardware/graphics.nix
    hardware.graphics.enable32Bit = lib.mkEnableOption "support for 32-bit graphics on 64-bit systems";

    # nixos/modules/hardware/steam-hardware.nix
    hardware.steam-hardware.enable = lib.mkEnableOption "udev rules for the Steam Controller and other Steam hardware";

    # nixos/modules/system/boot/kernel.nix
    boot.kernelPackages = mkOption {
      type = types.raw;
      default = pkgs.linuxPackages;
    };
    boot.extraModulePackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    boot.extraModprobeConfig = mkOption {
      type = types.lines;
      default = "";
    };

    # nixos/modules/virtualisation/docker.nix
    virtualisation.docker = {
      enable = lib.mkEnableOption "docker";
      package = lib.mkPackageOption pkgs "docker" { };
    };

    # nixos/modules/virtualisation/podman/default.nix
    virtualisation.podman.enable = lib.mkEnableOption "Podman";

    # nixos/modules/services/misc/jellyfin.nix: its options.
    services.jellyfin = {
      enable = lib.mkEnableOption "Jellyfin Media Server";
      user = mkOption {
        type = types.str;
        default = "jellyfin";
      };
      group = mkOption {
        type = types.str;
        default = "jellyfin";
      };
    };
  };

  config = lib.mkMerge [
    # nixos/modules/hardware/graphics.nix's assertions, as written there (the platform and the
    # kernel's features are pkgs' stand-in's).
    (lib.mkIf config.hardware.graphics.enable {
      assertions = [
        {
          assertion = config.hardware.graphics.enable32Bit -> pkgs.stdenv.hostPlatform.isx86_64;
          message = "`hardware.graphics.enable32Bit` is only supported on an x86_64 system.";
        }
        {
          assertion =
            config.hardware.graphics.enable32Bit
            -> (config.boot.kernelPackages.kernel.features.ia32Emulation or false);
          message = "`hardware.graphics.enable32Bit` requires a kernel that supports 32-bit emulation";
        }
      ];
    })

    # services.jellyfin's config, reduced to what makes it a unit systemd accepts (a stand-in:
    # the package is pkgs' stand-in, the sandbox settings are left out).
    (lib.mkIf cfg.enable {
    systemd.services.jellyfin = {
      description = "Jellyfin Media Server";
      after = [ "network.target" ];
      wantedBy = [ "multi-user.target" ];
      serviceConfig = {
        User = cfg.user;
        Group = cfg.group;
        StateDirectory = "jellyfin";
        CacheDirectory = "jellyfin";
        ExecStart = "${pkgs.jellyfin}/bin/jellyfin --datadir '/var/lib/jellyfin' --cachedir '/var/cache/jellyfin'";
        Restart = "on-failure";
      };
    };
    users.users.${cfg.user} = {
      group = cfg.group;
      isSystemUser = true;
    };
    users.groups.${cfg.group} = { };
    })
  ];
}
