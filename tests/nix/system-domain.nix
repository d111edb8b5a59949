# The users' own system domain, as far as hwc's defaults read it: the option
# hwc.system.users.user.name, naming the user of user-eric.nix.
{ lib, ... }:

{
  imports = [ ./user-eric.nix ];

  options.hwc.system.users.user.name = lib.mkOption {
    type = lib.types.str;
    description = "The machine's main user (declared by the users' system domain).";
  };

  config.hwc.system.users.user.name = "eric";
}
