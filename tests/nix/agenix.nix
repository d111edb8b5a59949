# agenix's option as its module declares it (ryantm/agenix modules/age.nix), as far as hwc reads
# it: each secret's encrypted file and where it is decrypted to.
{ lib, ... }:

{
  options.age.secrets = lib.mkOption {
    default = { };
    type = lib.types.attrsOf (
      lib.types.submodule (
        { name, ... }:
        {
          options = {
            file = lib.mkOption {
              type = lib.types.path;
              description = "Age file the secret is loaded from.";
            };
            path = lib.mkOption {
              type = lib.types.str;
              default = "/run/agenix/${name}";
              description = "Path where the decrypted secret is installed.";
            };
          };
        }
      )
    );
  };
}
