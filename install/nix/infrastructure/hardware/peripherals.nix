# Printers and scanners: CUPS with the drivers given and printers found on the network, SANE with
# network scanners, joined to the user through the `peripherals` group set (lp, scanner).
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkDefault mkEnableOption mkIf mkMerge mkOption types;
  inherit (import ../lib.nix { inherit lib; }) weak;
  cfg = config.hwc.infrastructure.hardware.peripherals;
in
{
  options.hwc.infrastructure.hardware.peripherals = {
    enable = mkEnableOption "printing and scanning with sane defaults (CUPS, network discovery, SANE)";

    printing = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "CUPS.";
      };
      drivers = mkOption {
        type = types.listOf types.package;
        default = [ ];
        example = lib.literalExpression "[ pkgs.gutenprint pkgs.hplip ]";
        description = "Printer drivers for CUPS (driverless IPP printers need none).";
      };
      discovery = mkOption {
        type = types.bool;
        default = true;
        description = "Find network printers and scanners (Avahi mDNS, with its firewall port open).";
      };
    };

    scanning = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "SANE.";
      };
      network = mkOption {
        type = types.bool;
        default = true;
        description = "Driverless network scanners (eSCL/WSD through sane-airscan).";
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      hwc.infrastructure.hardware.permissions.groups.peripherals = mkDefault true;
    }
    (mkIf cfg.printing.enable {
      services.printing.enable = weak true;
      services.printing.drivers = cfg.printing.drivers;
    })
    (mkIf (cfg.printing.discovery && (cfg.printing.enable || cfg.scanning.enable)) {
      # Defaults: a user's own Avahi settings (openFirewall = false on a laptop) are kept.
      services.avahi = {
        enable = weak true;
        nssmdns4 = weak true;
        openFirewall = weak true;
      };
    })
    (mkIf cfg.scanning.enable {
      hardware.sane.enable = weak true;
      hardware.sane.extraBackends = lib.optional cfg.scanning.network pkgs.sane-airscan;
    })
  ]);
}
