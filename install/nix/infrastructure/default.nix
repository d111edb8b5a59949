# The hwc infrastructure domain, for `imports = [ ./install/nix/infrastructure ];` (or the flake's
# nixosModules.hwc / nixosModules.default). Everything it declares lies under
# hwc.infrastructure.<hardware|mesh|session>.<module>.*
#
# The key makes a second import of the domain (two profiles importing the flake's module, or the
# module and this folder) the same module, taken once.
{
  key = "hwc.infrastructure";
  imports = [ ./index.nix ];
}
