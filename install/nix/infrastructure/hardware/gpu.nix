# The GPU: the driver integration for the declared type (NVIDIA with PRIME offload from the bus
# ids the user gives, AMD with ROCm, Intel with VA-API), the NVIDIA container toolkit, the
# read-only accelerator other domains consume, and /run/hwc/gpu.env written at boot by
# hwc-gpu-detect for services' EnvironmentFile=.
{ config, options, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf mkMerge mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  inherit (hwcLib) weak;
  cfg = config.hwc.infrastructure.hardware.gpu;
  hwc = config.hwc.infrastructure.session.commands.package;
  opt = path: hwcLib.optionName ([ "hardware" "gpu" ] ++ path);
  accelOf = {
    nvidia = "cuda";
    amd = "rocm";
    intel = "vaapi";
    none = "cpu";
  };
  # NixOS's own default of hardware.nvidia.open: false for drivers before 560, null (no default:
  # a choice is demanded) from 560.
  nixosOpenDefault = options.hardware.nvidia.open.default or null;
  # Where the machine's configuration sets the NixOS option at `path`.
  definedIn =
    path:
    lib.concatMapStringsSep ", " (d: d.file) (
      lib.filter (d: d.file != toString ./gpu.nix) (lib.attrByPath path { } options).definitionsWithLocations
    );
  # Bus ids as given; "" (NixOS's "unset") is taken as unset.
  prime = lib.mapAttrs (_: id: if id == "" then null else id) cfg.prime;
  integratedId = if prime.intelBusId != null then prime.intelBusId else prime.amdgpuBusId;
  offload = cfg.type == "nvidia" && prime.nvidiaBusId != null && integratedId != null;
  envFile = "/run/hwc/gpu.env";
  busIdOption =
    what:
    mkOption {
      type = types.nullOr hwcLib.busId;
      default = null;
      example = "PCI:1@0:0:0";
      description = "The ${what}'s bus id in NixOS's decimal form (hwc-gpu-detect --nixos prints it).";
    };
in
{
  options.hwc.infrastructure.hardware.gpu = {
    enable = mkEnableOption "the GPU's driver integration and GPU facts for services";

    type = mkOption {
      type = types.enum [ "nvidia" "amd" "intel" "none" ];
      default = "none";
      description = "The GPU the machine renders and computes on; hwc-gpu-detect --nixos prints it for this machine.";
    };

    accel = mkOption {
      type = types.enum [ "cuda" "rocm" "vaapi" "cpu" ];
      readOnly = true;
      default = accelOf.${cfg.type};
      defaultText = lib.literalExpression "cuda, rocm, vaapi or cpu, from hwc.infrastructure.hardware.gpu.type";
      description = "The accelerator API services should use, derived from `type` (read-only: other domains consume it).";
    };

    envFile = mkOption {
      type = types.str;
      readOnly = true;
      default = envFile;
      description = "HWC_GPU_* facts detected at boot, for a service's EnvironmentFile= (order it after hwc-gpu-env.service).";
    };

    nvidia = {
      containerRuntime = mkOption {
        type = types.bool;
        default = false;
        description = "The NVIDIA container toolkit: CDI specs so containers get the GPU (type = \"nvidia\" only).";
      };
      open = mkOption {
        type = types.nullOr types.bool;
        default = null;
        description = "NVIDIA's open kernel module (true: Turing / RTX 20 series and newer) or the proprietary one (false: older GPUs), given to NixOS's hardware.nvidia.open, below the machine's own setting of it. null: NixOS's default for the driver (the proprietary module before driver 560), and where NixOS has none (560 and newer, where it demands a choice) the open module, NVIDIA's recommendation for the GPUs those drivers support.";
      };
    };

    prime = {
      nvidiaBusId = busIdOption "NVIDIA GPU";
      intelBusId = busIdOption "Intel integrated GPU";
      amdgpuBusId = busIdOption "AMD integrated GPU";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = cfg.nvidia.containerRuntime -> cfg.type == "nvidia";
          message = "${opt [ "nvidia" "containerRuntime" ]} is set, but ${opt [ "type" ]} is \"${cfg.type}\": the NVIDIA container toolkit needs an NVIDIA GPU.";
        }
        {
          assertion = (prime.nvidiaBusId != null || integratedId != null) -> cfg.type == "nvidia";
          message = "${opt [ "prime" ]} is set, but ${opt [ "type" ]} is \"${cfg.type}\": PRIME bus ids are for NVIDIA offload only.";
        }
        {
          assertion = prime.nvidiaBusId != null -> integratedId != null;
          message = "${opt [ "prime" "nvidiaBusId" ]} is set without ${opt [ "prime" "intelBusId" ]} or amdgpuBusId: offload needs the integrated GPU's bus id too.";
        }
        {
          assertion = !(prime.intelBusId != null && prime.amdgpuBusId != null);
          message = "${opt [ "prime" "intelBusId" ]} and amdgpuBusId are both set: a machine has one integrated GPU.";
        }
      ];

      # Facts for services at boot; a warning in the journal when the GPU found is not the one
      # declared.
      systemd.tmpfiles.rules = [ "d /run/hwc 0755 root root -" ];
      systemd.services.hwc-gpu-env = {
        description = "GPU facts for services (${envFile})";
        wantedBy = [ "multi-user.target" ];
        after = [ "systemd-modules-load.service" "systemd-udev-trigger.service" "systemd-tmpfiles-setup.service" ];
        serviceConfig = hwcLib.hardening [ ] // {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = hwcLib.execLine "${hwc}/bin/hwc-gpu-detect" [ "--env" "--expect" cfg.type ];
          StandardOutput = "truncate:${envFile}";
          ReadWritePaths = [ "-/run/hwc" ];
          PrivateNetwork = true;
          RestrictAddressFamilies = [ "AF_UNIX" ];
        };
      };
    }

    # Every NixOS option below is a default: a user's own setting (the NixOS wiki's PRIME recipe,
    # the `open` choice NixOS asks every driver >= 560 user for) is the one NixOS gets. Where hwc
    # cannot work without a value, an assertion names both options.
    {
      assertions = [
        {
          assertion = cfg.type != "none" -> config.hardware.graphics.enable;
          message = "${opt [ "type" ]} = \"${cfg.type}\" needs hardware.graphics.enable, which this configuration sets to false (${definedIn [ "hardware" "graphics" "enable" ]}): remove that setting, or set ${opt [ "type" ]} = \"none\".";
        }
      ];
    }

    (mkIf (cfg.type == "nvidia") {
      hardware.graphics.enable = weak true;
      services.xserver.videoDrivers = [ "nvidia" ];
      hardware.nvidia.modesetting.enable = weak true;
      hardware.nvidia.open = mkIf (cfg.nvidia.open != null || nixosOpenDefault == null) (
        weak (if cfg.nvidia.open == null then true else cfg.nvidia.open)
      );
      # Both set, and not alike: the user's NixOS setting wins, and hwc says so.
      warnings = lib.optional (cfg.nvidia.open != null && config.hardware.nvidia.open != cfg.nvidia.open)
        "${opt [ "nvidia" "open" ]} = ${lib.boolToString cfg.nvidia.open}, but hardware.nvidia.open = ${builtins.toJSON config.hardware.nvidia.open} (${definedIn [ "hardware" "nvidia" "open" ]}): NixOS takes the latter. Set only one of them.";
      hardware.nvidia.prime = mkIf offload {
        offload.enable = weak (!config.hardware.nvidia.prime.sync.enable);
        # gpu-launch is the offload command; a user's nvidia-offload is kept when asked for.
        offload.enableOffloadCmd = weak false;
        nvidiaBusId = weak prime.nvidiaBusId;
        intelBusId = mkIf (prime.intelBusId != null) (weak prime.intelBusId);
        amdgpuBusId = mkIf (prime.amdgpuBusId != null) (weak prime.amdgpuBusId);
      };
      hardware.nvidia-container-toolkit.enable = mkIf cfg.nvidia.containerRuntime (weak true);
    })

    (mkIf (cfg.type == "amd") {
      hardware.graphics.enable = weak true;
      hardware.amdgpu.initrd.enable = weak true;
      # ROCm: OpenCL through the ROCm ICD, HIP programs find the runtime under /opt/rocm.
      hardware.amdgpu.opencl.enable = weak true;
      systemd.tmpfiles.rules = [ "L+ /opt/rocm - - - - ${pkgs.rocmPackages.clr}" ];
    })

    (mkIf (cfg.type == "intel") {
      hardware.graphics.enable = weak true;
      # VA-API on Broadwell and newer: the iHD media driver (a user's i965 for older GPUs wins).
      hardware.graphics.extraPackages = [ pkgs.intel-media-driver ];
      environment.sessionVariables.LIBVA_DRIVER_NAME = weak "iHD";
    })
  ]);
}
