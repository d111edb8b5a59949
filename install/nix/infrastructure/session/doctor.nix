# What the domain declared, written for hwc-doctor to compare with the machine
# (/etc/hwc/declared.json, in the format of applets/hwc-doctor/declared.rs), and the doctor on a
# timer writing its verdicts as Prometheus gauges for node_exporter's textfile collector.
{ config, lib, ... }:

let
  inherit (lib) mkEnableOption mkIf mkMerge mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  infra = config.hwc.infrastructure;
  cfg = infra.session.commands.doctor;
  hwc = infra.session.commands.package;

  gpu = infra.hardware.gpu;
  permissions = infra.hardware.permissions;
  services = infra.session.services;
  mesh = infra.mesh.containerNetworking;

  # One key per enabled module; an absent key is "not declared" to the doctor.
  declared =
    lib.optionalAttrs gpu.enable {
      gpu = {
        inherit (gpu) type;
        containerRuntime = gpu.nvidia.containerRuntime;
      };
    }
    // lib.optionalAttrs (permissions.enable && permissions.user != null) {
      permissions = {
        inherit (permissions) user;
        sets = lib.attrNames (lib.filterAttrs (_: on: on) permissions.groups);
      };
    }
    // lib.optionalAttrs (services.enable && services.sshKeys.enable && services.username != null) {
      ssh = {
        user = services.username;
      }
      // lib.optionalAttrs (services.secret != null) { inherit (services) secret; };
    }
    // lib.optionalAttrs mesh.enable {
      bridges = lib.mapAttrs (_: b: b.addresses) (lib.filterAttrs (name: _: hwcLib.isIfName name) mesh.bridges);
    }
    // lib.optionalAttrs (mesh.enable && mesh.networkFacts != { }) { networks = mesh.networkFacts; }
    # Always beside "apps", an empty list included: a declaration without it (older, or written
    # by hand) has the doctor skip what it would say, not read it as "none asked".
    // lib.optionalAttrs (infra.session.appIntegrations != [ ]) {
      apps = lib.sort lib.lessThan infra.session.appIntegrations;
      graphics32 = lib.sort lib.lessThan infra.session.graphics32Apps;
    };

  textfile = "${cfg.textfileDirectory}/hwc-doctor.prom";
in
{
  # Every app integration that is on (mkAppIntegration adds its name): declared.json's "apps".
  options.hwc.infrastructure.session.appIntegrations = mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    internal = true;
    description = "The apps whose system side is on, for hwc-doctor.";
  };

  # The apps among those whose integration asked for 32-bit graphics drivers, on a platform that
  # has them (x86_64): declared.json's "graphics32".
  options.hwc.infrastructure.session.graphics32Apps = mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    internal = true;
    description = "The apps whose system side asked for 32-bit graphics drivers, for hwc-doctor.";
  };

  options.hwc.infrastructure.session.commands.doctor = {
    enable = mkEnableOption "hwc-doctor on a timer, its verdicts written as Prometheus gauges for node_exporter's textfile collector";

    interval = mkOption {
      # One line, no systemd specifier (%).
      type = types.strMatching "[^%\n]+";
      default = "*:0/15";
      example = "hourly";
      description = "When hwc-doctor runs: a systemd calendar event (OnCalendar=, see systemd.time(7)).";
    };

    textfileDirectory = mkOption {
      # Also a ReadWritePaths= entry and a tmpfiles.d path: nothing those read specially.
      type = hwcLib.systemdPath;
      default = "/var/lib/prometheus-node-exporter-text-files";
      example = "/var/lib/node-exporter/textfile";
      description = ''
        The directory node_exporter's textfile collector reads (services.prometheus.exporters.node
        with enabledCollectors = [ "textfile" ] and extraFlags =
        [ "--collector.textfile.directory=DIR" ]); hwc-doctor writes hwc-doctor.prom there. Made
        at boot (0755, root).
      '';
    };
  };

  config = mkMerge [
    # Whenever a module declares something (or the doctor runs), so hwc-doctor run by hand reads
    # it too; nothing declared and no doctor writes no file.
    (mkIf (declared != { } || cfg.enable) {
      environment.etc."hwc/declared.json".text = builtins.toJSON declared;
    })

    (mkIf cfg.enable {
      systemd.tmpfiles.rules = [ "d ${cfg.textfileDirectory} 0755 root root -" ];

      systemd.services.hwc-doctor = {
        description = "hwc-doctor: the machine against its declaration, as Prometheus gauges";
        after = [ "systemd-tmpfiles-setup.service" ];
        serviceConfig = hwcLib.hardening [
          # The checks in the user's home and session run in a worker dropped to the user, which
          # is killed if it overruns.
          "CAP_SETUID"
          "CAP_SETGID"
          "CAP_KILL"
        ] // {
          Type = "oneshot";
          ExecStart = hwcLib.execLine "${hwc}/bin/hwc-doctor" [ "--prometheus" textfile ];
          # 1: a check failed. That is the doctor's finding (in the gauges and the journal), not
          # the unit's failure.
          SuccessExitStatus = 1;
          TimeoutStartSec = 60;
          ReadWritePaths = [ cfg.textfileDirectory ];
          # rtnetlink for the declared bridges (this network namespace's), D-Bus for the units and
          # the session.
          RestrictAddressFamilies = [ "AF_UNIX" "AF_NETLINK" ];
        };
      };

      systemd.timers.hwc-doctor = {
        description = "Run hwc-doctor periodically";
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnCalendar = cfg.interval;
          # Once soon after boot too, so the gauges are never older than one boot.
          OnBootSec = "2min";
          Persistent = true;
        };
      };
    })
  ];
}
