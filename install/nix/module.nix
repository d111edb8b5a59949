# NixOS options under hwc.infrastructure.<bucket>.<module>, wired to hwc's applets.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge types;
  cfg = config.hwc.infrastructure;
  hwc = cfg.package;
  accelOf = { nvidia = "cuda"; amd = "rocm"; intel = "vaapi"; none = "cpu"; };
  groupSets = {
    media = [ "audio" "video" "render" ];
    hardware = [ "input" ];
    development = [ "dialout" "kvm" ];
  };
  perms = cfg.hardware.permissions;
  wantedGroups = lib.concatLists (lib.mapAttrsToList (set: on: lib.optionals on groupSets.${set}) perms.groups);
in
{
  options.hwc.infrastructure = {
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The hwc package.";
    };

    hardware.gpu = {
      enable = mkEnableOption "GPU facts for services (hwc-gpu-detect)";
      type = mkOption {
        type = types.enum [ "nvidia" "amd" "intel" "none" ];
        default = "none";
        description = "The GPU services should use.";
      };
      nvidia.containerRuntime = mkOption {
        type = types.bool;
        default = false;
        description = "Enable the NVIDIA container toolkit (CDI specs) for containers.";
      };
      accel = mkOption {
        type = types.enum [ "cuda" "rocm" "vaapi" "cpu" ];
        readOnly = true;
        default = accelOf.${cfg.hardware.gpu.type};
        defaultText = lib.literalExpression "derived from hwc.infrastructure.hardware.gpu.type";
        description = "Accelerator API derived from the GPU type: cuda, rocm, vaapi or cpu.";
      };
    };

    hardware.permissions = {
      enable = mkEnableOption "hardware access groups for a user, checked by hwc-perms";
      user = mkOption {
        type = types.str;
        default = "";
        description = "The user who gets the groups.";
      };
      groups = {
        media = mkOption { type = types.bool; default = true; description = "audio, video, render."; };
        hardware = mkOption { type = types.bool; default = false; description = "input."; };
        development = mkOption { type = types.bool; default = false; description = "dialout, kvm."; };
      };
    };

    session.services = {
      enable = mkEnableOption "authorized keys from an agenix secret with setup-ssh-keys";
      username = mkOption { type = types.str; description = "The user whose keys are installed."; };
      secret = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "Secret file with the keys (default: /run/agenix/ssh-authorized-keys-USER).";
      };
      fallbackKeys = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Public key lines used when the secret yields no valid key.";
      };
    };

    session.commands = {
      enable = mkEnableOption "hwc on PATH";
      gpuLaunch = mkOption { type = types.bool; default = true; description = "Provide gpu-launch."; };
    };

    session.init.enable = mkEnableOption "the hwc-session-init user unit at graphical login";

    mesh.containerNetworking = {
      enable = mkEnableOption "container bridges kept by hwc-netlink ensure-bridge";
      bridges = mkOption {
        type = types.attrsOf (types.submodule {
          options.addresses = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = "Addresses of the bridge, as CIDR.";
          };
        });
        default = { };
        description = "Bridges by name.";
      };
    };

    initrd.enable = mkEnableOption "hwc and its applet links in the initrd";
  };

  config = mkMerge [
    (mkIf cfg.hardware.gpu.enable {
      environment.systemPackages = [ hwc ];
      hardware.nvidia-container-toolkit.enable = mkIf cfg.hardware.gpu.nvidia.containerRuntime true;
    })

    (mkIf perms.enable {
      users.users.${perms.user}.extraGroups = wantedGroups;
      systemd.services.hwc-perms-check = {
        description = "Check hardware groups of ${perms.user}";
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          Type = "oneshot";
          ExecStart = "${hwc}/bin/hwc-perms groups --user ${perms.user}";
        };
      };
    })

    (mkIf cfg.session.services.enable (
      let
        user = cfg.session.services.username;
        secret = if cfg.session.services.secret == null then "/run/agenix/ssh-authorized-keys-${user}" else toString cfg.session.services.secret;
        keyArgs = lib.concatMapStringsSep " " (k: "--fallback-key ${lib.escapeShellArg k}") cfg.session.services.fallbackKeys;
      in
      {
        systemd.services."setup-ssh-keys-${user}" = {
          description = "Install SSH authorized keys for ${user}";
          wantedBy = [ "multi-user.target" ];
          wants = [ "agenix-install-secrets.service" ];
          after = [ "agenix-install-secrets.service" "local-fs.target" ];
          before = [ "sshd.service" ];
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = "${hwc}/bin/setup-ssh-keys ${user} --secret ${secret} ${keyArgs}";
            # The home's worker has a 30 s deadline; this bounds the whole run.
            TimeoutStartSec = 60;
            CapabilityBoundingSet = [ "CAP_SETUID" "CAP_SETGID" "CAP_DAC_READ_SEARCH" "CAP_KILL" ];
            NoNewPrivileges = true;
            PrivateNetwork = true;
            ProtectSystem = "full";
          };
        };
      }
    ))

    (mkIf cfg.session.commands.enable {
      environment.systemPackages = [ hwc ];
    })

    (mkIf cfg.session.init.enable {
      systemd.packages = [ hwc ];
      systemd.user.services.hwc-session-init.wantedBy = [ "graphical-session-pre.target" ];
    })

    (mkIf cfg.mesh.containerNetworking.enable {
      systemd.services = lib.mapAttrs' (name: bridge: lib.nameValuePair "hwc-bridge-${name}" {
        description = "Container bridge ${name}";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-pre.target" ];
        after = [ "network-pre.target" ];
        before = [ "network.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${hwc}/bin/hwc-netlink ensure-bridge ${name} ${lib.concatStringsSep " " bridge.addresses}";
          CapabilityBoundingSet = [ "CAP_NET_ADMIN" ];
        };
      }) cfg.mesh.containerNetworking.bridges;
    })

    (mkIf cfg.initrd.enable {
      # Scripted stage 1: copy the static binary and recreate the links.
      boot.initrd.extraUtilsCommands = ''
        copy_bin_and_libs ${hwc}/bin/hwc
        for applet in $(${hwc}/bin/hwc --list); do ln -sf hwc $out/bin/$applet; done
      '';
      # systemd stage 1: the package's bin directory, links included.
      boot.initrd.systemd.initrdBin = [ hwc ];
    })
  ];
}
