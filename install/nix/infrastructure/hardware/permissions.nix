# The user's hardware groups, the device nodes those groups open (udev rules), declared device
# access (uaccess or a group), and a boot check with hwc-perms that the user has every declared
# group.
{ config, options, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf mkMerge mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  cfg = config.hwc.infrastructure.hardware.permissions;
  hwc = config.hwc.infrastructure.session.commands.package;
  opt = name: hwcLib.optionName [ "hardware" "permissions" name ];
  services = config.hwc.infrastructure.session.services;

  enabledSets = lib.filterAttrs (set: on: on) cfg.groups;
  sets = lib.getAttrs (lib.attrNames enabledSets) hwcLib.groupSets;
  wanted = lib.unique (lib.concatLists (lib.attrValues sets));
  user = cfg.user;

  # Device nodes for the hardware and development sets; systemd's own rules already give audio,
  # video, render, input, dialout, kvm and lp their nodes.
  setRules = {
    hardware = [
      ''KERNEL=="i2c-[0-9]*", GROUP="i2c", MODE="0660"''
      ''SUBSYSTEM=="gpio", KERNEL=="gpiochip[0-9]*", GROUP="gpio", MODE="0660"''
      ''SUBSYSTEM=="spidev", GROUP="spi", MODE="0660"''
      ''SUBSYSTEM=="iio", KERNEL=="iio:device[0-9]*", GROUP="sensors", MODE="0660"''
    ];
    development = [
      # USB debug probes: ST-LINK, SEGGER J-Link, and any CMSIS-DAP probe (by interface name).
      ''SUBSYSTEM=="usb", ATTR{idVendor}=="0483", ATTR{idProduct}=="3744|3748|374b|374d|374e|374f|3752|3753|3754", GROUP="plugdev", MODE="0660"''
      ''SUBSYSTEM=="usb", ATTR{idVendor}=="1366", GROUP="plugdev", MODE="0660"''
      ''SUBSYSTEM=="usb", ATTR{product}=="*CMSIS-DAP*", GROUP="plugdev", MODE="0660"''
      ''SUBSYSTEM=="hidraw", ATTRS{product}=="*CMSIS-DAP*", GROUP="plugdev", MODE="0660"''
    ];
  };
  accessRule =
    a:
    a.match
    + (
      if a.uaccess then
        '', TAG+="uaccess"''
      else
        '', GROUP="${a.group}", MODE="${a.mode}"''
    );
  rules = lib.concatLists (lib.attrValues (lib.getAttrs (lib.filter (s: setRules ? ${s}) (lib.attrNames sets)) setRules))
    ++ map accessRule cfg.deviceAccess;
  # Before systemd's 73-seat-late.rules, which turns the uaccess tag into ACLs.
  udevRules = pkgs.writeTextFile {
    name = "hwc-udev-rules";
    destination = "/etc/udev/rules.d/70-hwc-permissions.rules";
    text = lib.concatMapStrings (r: r + "\n") rules;
  };
  perSet = set: "${set} = ${lib.concatStringsSep " " sets.${set}}\n";
in
{
  options.hwc.infrastructure.hardware.permissions = {
    enable = mkEnableOption "hardware access groups for the user, their device nodes, and a boot check with hwc-perms";

    user = mkOption {
      type = types.nullOr types.str;
      default = if services.username != null then services.username else hwcLib.systemUserName options;
      defaultText = lib.literalExpression "hwc.infrastructure.session.services.username, else config.hwc.system.users.user.name";
      example = "eric";
      description = "The user who gets the groups.";
    };

    groups = {
      media = mkOption {
        type = types.bool;
        default = true;
        description = "audio, video, render: sound cards, cameras and capture, GPU render nodes.";
      };
      hardware = mkOption {
        type = types.bool;
        default = false;
        description = "input, i2c, gpio, spi, sensors: input devices, I2C buses (monitor control), GPIO and SPI, IIO sensors.";
      };
      development = mkOption {
        type = types.bool;
        default = false;
        description = "dialout, kvm, plugdev: serial ports, KVM, USB debug probes (ST-LINK, J-Link, CMSIS-DAP).";
      };
      peripherals = mkOption {
        type = types.bool;
        default = config.hwc.infrastructure.hardware.peripherals.enable;
        defaultText = lib.literalExpression "config.hwc.infrastructure.hardware.peripherals.enable";
        description = "lp, scanner: printers and scanners.";
      };
    };

    deviceAccess = mkOption {
      type = types.listOf (
        types.submodule {
          options = {
            match = mkOption {
              type = types.str;
              example = ''SUBSYSTEM=="hidraw", ATTRS{idVendor}=="1050"'';
              description = "udev match keys of the devices.";
            };
            uaccess = mkOption {
              type = types.bool;
              default = true;
              description = "Give the user at the seat an ACL on the node (systemd-logind's uaccess); false gives it to `group`.";
            };
            group = mkOption {
              type = types.nullOr types.str;
              default = null;
              description = "The group that owns the node when uaccess is false.";
            };
            mode = mkOption {
              type = types.strMatching "0?[0-7]{3}";
              default = "0660";
              description = "The node's mode when it goes to `group`.";
            };
          };
        }
      );
      default = [ ];
      example = lib.literalExpression ''[ { match = "SUBSYSTEM==\"hidraw\", ATTRS{idVendor}==\"1050\""; } ]'';
      description = "Hardware access declared as udev rules: the seat's user (uaccess) or a group gets the matched device nodes.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = hwcLib.userAssertions config (opt "user") user "neither hwc.infrastructure.session.services.username nor hwc.system.users.user.name" ++ [
        {
          assertion = lib.all (a: !(lib.hasInfix "\n" a.match) && a.match != "") cfg.deviceAccess;
          message = "${opt "deviceAccess"}: a match is empty or holds a line break.";
        }
        {
          assertion = lib.all (a: a.uaccess || a.group != null) cfg.deviceAccess;
          message = "${opt "deviceAccess"}: an entry with uaccess = false needs a group.";
        }
      ];
    }

    (mkIf (user != null) {
      users.users.${user}.extraGroups = wanted;
      users.groups = lib.genAttrs wanted (_: { });
      boot.kernelModules = lib.optional (sets ? hardware) "i2c-dev";
      services.udev.packages = lib.optional (rules != [ ]) udevRules;

      # The sets as declared, so `hwc-perms groups` checks exactly these groups.
      environment.etc."hwc/perms.conf".text = lib.concatMapStrings perSet (lib.attrNames sets);

      systemd.services.hwc-perms-check = mkIf (sets != { }) {
        description = "Check that ${user} has the declared hardware groups";
        wantedBy = [ "multi-user.target" ];
        after = [ "systemd-sysusers.service" "userborn.service" ];
        serviceConfig = hwcLib.hardening [ ] // {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = hwcLib.execLine "${hwc}/bin/hwc-perms" [
            "groups"
            "--user"
            user
            "--want"
            (lib.concatStringsSep "," (lib.attrNames sets))
          ];
          PrivateNetwork = true;
          RestrictAddressFamilies = [ "AF_UNIX" ];
        };
      };
    })
  ]);
}
