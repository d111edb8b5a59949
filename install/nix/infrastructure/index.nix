# The domain aggregator: exactly three buckets. Profiles import this (or the folder), never a
# single module, and other domains read the stable option paths (for example
# config.hwc.infrastructure.hardware.gpu.accel).
{
  imports = [
    # hardware: GPUs and their drivers, users' groups and device access, printers and scanners,
    # storage.
    ./hardware/gpu.nix
    ./hardware/permissions.nix
    ./hardware/peripherals.nix
    ./hardware/storage.nix
    # mesh: container networking: local bridges, and networks shared across machines.
    ./mesh/container-networking.nix
    ./mesh/networks.nix
    # session: the user's background services, shared commands (hwc-doctor on a timer among
    # them, with the declaration it reads), system-side app integration.
    ./session/services.nix
    ./session/commands.nix
    ./session/doctor.nix
    ./session/chromium.nix
    ./session/apps.nix
  ];
}
