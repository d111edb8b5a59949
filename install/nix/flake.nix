{
  description = "hwc: the wiring layer of a NixOS machine, as one static multicall binary";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        hwc = pkgs.callPackage ./package.nix { };
        default = hwc;
      });

      # The hwc.infrastructure domain, running this flake's package.
      nixosModules.default = { pkgs, lib, ... }: {
        imports = [ ./infrastructure ];
        hwc.infrastructure.session.commands.package =
          lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      };
    };
}
