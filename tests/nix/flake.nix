# install/nix/flake.nix's outputs, as `nix` would give them, with nixpkgs stood in for (nixpkgs
# itself is not available to the tests): its `lib` is the vendored real one, `lib.nixosSystem`
# evaluates the modules beside NixOS as tests/nix/nixos.nix has it, and `legacyPackages.<system>`
# is pkgs.nix's stand-in for each system. `self` is the flake's outputs with its outPath, as nix
# passes it.
#
#   nix-instantiate --eval --strict --json -E '(import tests/nix/flake.nix { }).packages'
{
  store ? "/nix/store",
}:

let
  lib = import ../../../shared/vendor/nixpkgs-lib/lib;
  pkgsFor =
    system:
    let
      x86_64 = system == "x86_64-linux";
    in
    lib.recursiveUpdate (import ./pkgs.nix { inherit lib store; }) {
      stdenv.hostPlatform = {
        inherit system;
        isx86_64 = x86_64;
      };
      linuxPackages.kernel.features.ia32Emulation = x86_64;
    };
  nixpkgs = {
    lib = lib // {
      # nixos/lib/eval-config.nix, as far as the stand-in NixOS goes: the modules, then the
      # machine's own; `nixpkgs.hostPlatform` picks the packages.
      nixosSystem =
        {
          modules,
          specialArgs ? { },
          ...
        }:
        let
          eval = lib.evalModules {
            inherit specialArgs;
            modules =
              import ./nixos.nix {
                inherit lib;
                pkgs = pkgsFor eval.config.nixpkgs.hostPlatform;
                # NixOS itself has no agenix; a machine imports its module.
                agenix = false;
              }
              ++ modules;
          };
        in
        eval;
    };
    legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor;
  };
  flake = import ../../install/nix/flake.nix;
  self = flake.outputs { inherit self nixpkgs; } // {
    outPath = ../../install/nix;
  };
in
self
