# More apps whose Home Manager side needs a system side, made with mkAppIntegration: each is
# hwc.infrastructure.session.NAME.enable, off until a user turns it on.
{ lib, ... }:

let
  inherit (import ../../lib { inherit lib; }) mkAppIntegration;
in
{
  imports = [
    # OBS Studio's virtual camera (what video calls see as a webcam) is a v4l2loopback device,
    # a kernel module only the system can build and load; loaded at boot with the options OBS
    # looks for, it needs no pkexec at the moment the camera starts.
    (mkAppIntegration {
      name = "obs";
      description = "OBS Studio's virtual camera (v4l2loopback)";
      kernelModules = [ "v4l2loopback" ];
      kernelModulePackages = [ "v4l2loopback" ];
      modprobeConfig = ''options v4l2loopback devices=1 video_nr=10 card_label="OBS Virtual Camera" exclusive_caps=1'';
    })
    # Steam: its controllers (Steam Controller, Steam Deck, Index, other gamepads through
    # Steam Input) need udev rules for hidraw and uinput, and its runtime and Proton need
    # 32-bit graphics drivers; Home Manager's steam has neither.
    (mkAppIntegration {
      name = "steam";
      description = "Steam (controller udev rules, 32-bit graphics on x86_64)";
      graphics32 = true;
      extraConfig = { weak, ... }: { hardware.steam-hardware.enable = weak true; };
    })
  ];
}
