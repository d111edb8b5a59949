# The NixOS options the hwc modules set, declared with lib's real types and shaped as NixOS
# declares them (nixos/modules/system/boot/systemd.nix and nixos/lib/systemd-unit-options.nix,
# config/users-groups.nix, system/etc/etc.nix, tasks/filesystems.nix, misc/assertions.nix, the
# hardware and services modules): NixOS itself is not available to the tests. Only what the hwc
# modules touch is declared, so a setting outside this list fails the evaluation.
{ lib, ... }:

let
  inherit (lib) mkOption types;
  bool = mkOption {
    type = types.bool;
    default = false;
  };
  strings = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  packages = mkOption {
    type = types.listOf types.package;
    default = [ ];
  };

  # systemd-unit-options.nix: a unit setting; lists concatenate, other values must agree.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: lib.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };
  section = mkOption {
    type = types.attrsOf unitOption;
    default = { };
  };
  unitOptions = {
    enable = mkOption {
      type = types.bool;
      default = true;
    };
    description = mkOption {
      type = types.singleLineStr;
      default = "";
    };
    wantedBy = strings;
    requiredBy = strings;
    wants = strings;
    requires = strings;
    after = strings;
    before = strings;
    partOf = strings;
    bindsTo = strings;
    conflicts = strings;
    unitConfig = section;
    restartTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
  };
  service = types.submodule {
    options = unitOptions // {
      serviceConfig = section;
      environment = mkOption {
        type = types.attrsOf (types.nullOr types.str);
        default = { };
      };
    };
  };
  pathUnit = types.submodule {
    options = unitOptions // {
      pathConfig = section;
    };
  };
  timerUnit = types.submodule {
    options = unitOptions // {
      timerConfig = section;
    };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = strings;

    systemd.services = mkOption {
      type = types.attrsOf service;
      default = { };
    };
    systemd.paths = mkOption {
      type = types.attrsOf pathUnit;
      default = { };
    };
    systemd.timers = mkOption {
      type = types.attrsOf timerUnit;
      default = { };
    };
    systemd.user.services = mkOption {
      type = types.attrsOf service;
      default = { };
    };
    systemd.tmpfiles.rules = strings;

    users.users = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              name = mkOption {
                type = types.str;
                default = name;
              };
              uid = mkOption {
                type = types.nullOr types.int;
                default = null;
              };
              isNormalUser = bool;
              isSystemUser = bool;
              group = mkOption {
                type = types.str;
                default = if config.isNormalUser then "users" else "";
              };
              extraGroups = strings;
              home = mkOption {
                type = types.str;
                default = if config.isNormalUser then "/home/${name}" else "/var/empty";
              };
              description = mkOption {
                type = types.str;
                default = "";
              };
            };
          }
        )
      );
    };
    users.groups = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              name = mkOption {
                type = types.str;
                default = name;
              };
              gid = mkOption {
                type = types.nullOr types.int;
                default = null;
              };
              members = strings;
            };
          }
        )
      );
    };

    environment.systemPackages = packages;
    environment.sessionVariables = mkOption {
      type = types.attrsOf (types.either types.str (types.listOf types.str));
      default = { };
    };
    environment.etc = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              enable = mkOption {
                type = types.bool;
                default = true;
              };
              target = mkOption {
                type = types.str;
                default = name;
              };
              text = mkOption {
                type = types.nullOr types.lines;
                default = null;
              };
              mode = mkOption {
                type = types.str;
                default = "symlink";
              };
            };
          }
        )
      );
    };

    boot.kernelModules = strings;
    boot.initrd.extraUtilsCommands = mkOption {
      type = types.lines;
      default = "";
    };
    boot.initrd.systemd.enable = bool;
    boot.initrd.systemd.initrdBin = packages;

    fileSystems = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              mountPoint = mkOption {
                type = types.str;
                default = name;
              };
              device = mkOption {
                type = types.nullOr types.nonEmptyStr;
                default = null;
              };
              fsType = mkOption {
                type = types.nonEmptyStr;
                default = "auto";
              };
              options = mkOption {
                type = types.nonEmptyListOf types.nonEmptyStr;
                default = [ "defaults" ];
              };
            };
          }
        )
      );
    };

    hardware.graphics.enable = bool;
    hardware.graphics.extraPackages = packages;
    hardware.nvidia = {
      modesetting.enable = bool;
      open = mkOption {
        type = types.nullOr types.bool;
        default = null;
      };
      prime =
        let
          busId = mkOption {
            type = types.strMatching "([[:print:]]+[:@][0-9]{1,3}:[0-9]{1,2}:[0-9])?";
            default = "";
          };
        in
        {
          offload.enable = bool;
          offload.enableOffloadCmd = bool;
          nvidiaBusId = busId;
          intelBusId = busId;
          amdgpuBusId = busId;
        };
    };
    hardware.nvidia-container-toolkit.enable = bool;
    hardware.amdgpu.initrd.enable = bool;
    hardware.amdgpu.opencl.enable = bool;
    hardware.sane.enable = bool;
    hardware.sane.extraBackends = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };

    services.xserver.videoDrivers = strings;
    services.udev.packages = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };
    services.printing.enable = bool;
    services.printing.drivers = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };
    services.avahi = {
      enable = bool;
      nssmdns4 = bool;
      openFirewall = bool;
    };
    services.udisks2.enable = bool;
    services.devmon.enable = bool;
    services.fstrim.enable = bool;
    services.dbus.enable = bool;
    programs.dconf.enable = bool;
    xdg.portal = {
      enable = bool;
      extraPortals = packages;
      config = mkOption {
        type = types.attrsOf (types.attrsOf (types.either types.str (types.listOf types.str)));
        default = { };
      };
    };
  };
}
