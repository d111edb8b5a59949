# An NVIDIA Optimus laptop (Intel iGPU + NVIDIA dGPU) wired by hwc: every seed snippet of the
# domain's documentation, the PRIME bus ids as `hwc-gpu-detect --nixos` prints them on such a
# machine, and what any NixOS machine declares (its user, root file system, boot loader).
# The flake's nixosConfigurations.hwc-laptop; try it with
#   nix eval .#nixosConfigurations.hwc-laptop.config.hwc.infrastructure.session
{
  networking.hostName = "hwc-laptop";
  # NVIDIA's driver is unfree: nixpkgs builds it only when allowed.
  nixpkgs.config.allowUnfree = true;
  system.stateVersion = "26.05";
  boot.loader.systemd-boot.enable = true;
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  users.users.eric = {
    isNormalUser = true;
    uid = 1000;
  };

  hwc.infrastructure.hardware.gpu = {
    enable = true;
    type = "nvidia";
    nvidia.containerRuntime = true;
    nvidia.open = true;
    prime = {
      nvidiaBusId = "PCI:1@0:0:0";
      intelBusId = "PCI:0@0:2:0";
    };
  };
  hwc.infrastructure.hardware.permissions = {
    enable = true;
    user = "eric";
    groups = {
      media = true;
      hardware = true;
      development = true;
    };
  };
  hwc.infrastructure.session.services = {
    enable = true;
    username = "eric";
  };
  hwc.infrastructure.session.commands = {
    enable = true;
    gpuLaunch = true;
  };
  hwc.infrastructure.session.chromium.enable = true;
  hwc.infrastructure.mesh.containerNetworking.enable = true;
}
