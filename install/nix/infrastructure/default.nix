# The hwc infrastructure domain, for `imports = [ ./install/nix/infrastructure ];` (or the flake's
# nixosModules.default). Everything it declares lies under
# hwc.infrastructure.<hardware|mesh|session>.<module>.*
{
  imports = [ ./index.nix ];
}
