# Storage: removable media for the session (udisks2, automounting), periodic TRIM, and mounts
# for services: declared by LABEL=, UUID= or path, owner, group and mode of the mounted root set
# by mount itself (X-mount.owner/group/mode, util-linux 2.38), `nofail` and automount so a
# missing disk never blocks boot, the services that need one ordered after it.
{ config, lib, ... }:

let
  inherit (lib) mkEnableOption mkIf mkMerge mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  inherit (hwcLib) weak;
  cfg = config.hwc.infrastructure.hardware.storage;
  opt = hwcLib.optionName [ "hardware" "storage" "mounts" ];
  badDevices = lib.filter (m: builtins.match "(LABEL|UUID|PARTUUID|PARTLABEL)=.+|/.+" m.device == null) (lib.attrValues cfg.mounts);
  mountOptions =
    m:
    [
      "nofail"
      "x-systemd.device-timeout=${toString m.deviceTimeout}s"
      "X-mount.owner=${m.owner}"
      "X-mount.group=${m.group}"
      "X-mount.mode=${m.mode}"
    ]
    ++ lib.optionals m.automount [ "x-systemd.automount" "x-systemd.idle-timeout=0" ]
    ++ m.options;
  # The services a mount is required by that nothing else makes a unit of: hwc only adds to a
  # service, and a unit it alone made would have no ExecStart (systemd refuses it). A unit is
  # there when its merged definition runs something, or is a drop-in on a packaged unit.
  isUnit =
    service:
    let
      s = config.systemd.services.${service} or { };
    in
    (s.serviceConfig or { }) ? ExecStart || (s.script or "") != "" || (s.overrideStrategy or "") == "asDropin";
  undefinedServices = lib.concatLists (
    lib.mapAttrsToList (
      name: m: map (service: { inherit name service; }) (lib.filter (s: !isUnit s) m.requiredBy)
    ) cfg.mounts
  );
in
{
  options.hwc.infrastructure.hardware.storage = {
    enable = mkEnableOption "storage integration: removable media, TRIM, and mounts for services";

    removable = mkOption {
      type = types.bool;
      default = true;
      description = "Removable media for the session: udisks2 (mount from the desktop) and devmon (mounted under /run/media/USER when plugged).";
    };

    trim = mkOption {
      type = types.bool;
      default = true;
      description = "Weekly TRIM of mounted file systems that support it (fstrim.timer).";
    };

    mounts = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              device = mkOption {
                type = types.str;
                example = "LABEL=media";
                description = "LABEL=..., UUID=..., PARTUUID=..., PARTLABEL=... or a device path.";
              };
              mountPoint = mkOption {
                type = hwcLib.systemdPath;
                default = "/mnt/${name}";
                description = "Where it is mounted.";
              };
              fsType = mkOption {
                type = types.str;
                default = "auto";
                description = "The file system type.";
              };
              options = mkOption {
                type = types.listOf types.str;
                default = [ ];
                description = "More mount options.";
              };
              owner = mkOption {
                type = types.strMatching "[a-z_][a-z0-9_-]*[$]?|[0-9]+";
                default = "root";
                description = "Owner of the mounted file system's root directory.";
              };
              group = mkOption {
                type = types.strMatching "[a-z_][a-z0-9_-]*[$]?|[0-9]+";
                default = "root";
                description = "Group of the mounted file system's root directory.";
              };
              mode = mkOption {
                type = types.strMatching "0?[0-7]{3,4}";
                default = "0755";
                description = "Mode of the mounted file system's root directory.";
              };
              automount = mkOption {
                type = types.bool;
                default = true;
                description = "Mount on first access (x-systemd.automount): boot never waits for the disk.";
              };
              deviceTimeout = mkOption {
                type = types.ints.positive;
                default = 10;
                description = "Seconds to wait for the device when it is asked for.";
              };
              requiredBy = mkOption {
                type = types.listOf types.str;
                default = [ ];
                example = [ "jellyfin" ];
                description = "Services of this configuration (unit names without .service) that need this mount: ordered after it, and not started without it. Each must be defined by another module (hwc only adds RequiresMountsFor= to it).";
              };
            };
          }
        )
      );
      default = { };
      example = lib.literalExpression ''{ media = { device = "LABEL=media"; owner = "eric"; group = "media"; mode = "0770"; requiredBy = [ "jellyfin" ]; }; }'';
      description = "File systems for services, by name.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = badDevices == [ ];
          message = "${opt}: ${lib.concatMapStringsSep ", " (m: "'${m.device}'") badDevices} is not LABEL=, UUID=, PARTUUID=, PARTLABEL= or an absolute device path.";
        }
        {
          assertion = undefinedServices == [ ];
          message = lib.concatMapStringsSep "\n" (
            u: "${opt}.${u.name}.requiredBy: '${u.service}' is not a service of this configuration (no systemd.services.${u.service} with ExecStart or script, nor a packaged unit's drop-in: overrideStrategy = \"asDropin\"); name the unit without .service, or enable the module that defines it."
          ) undefinedServices;
        }
      ];
    }
    (mkIf cfg.removable {
      services.udisks2.enable = weak true;
      services.devmon.enable = weak true;
    })
    (mkIf cfg.trim {
      services.fstrim.enable = weak true;
    })
    {
      fileSystems = lib.mapAttrs' (
        name: m:
        lib.nameValuePair m.mountPoint {
          inherit (m) device fsType;
          options = mountOptions m;
        }
      ) cfg.mounts;

      # The services that need a mount wait for it, and do not start without it.
      systemd.services = lib.mkMerge (
        lib.mapAttrsToList (
          name: m:
          lib.genAttrs m.requiredBy (_: {
            unitConfig.RequiresMountsFor = [ m.mountPoint ];
          })
        ) cfg.mounts
      );
    }
  ]);
}
