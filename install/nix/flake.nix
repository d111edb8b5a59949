{
  description = "hwc: the wiring layer of a NixOS machine, as one static multicall binary";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      # pkgs.hwc, for `nixpkgs.overlays = [ hwc.overlays.default ];`. The domain's package
      # defaults to it when it is there.
      overlays.default = final: _prev: { hwc = final.callPackage ./package.nix { }; };

      packages = forAllSystems (
        _: pkgs: rec {
          hwc = pkgs.callPackage ./package.nix { };
          default = hwc;
        }
      );

      # The hwc.infrastructure domain: a file, with a key, so importing it from two profiles is
      # harmless and errors name the file. Its package is pkgs.hwc (this flake's overlay) or, without
      # the overlay, this flake's own package.nix built with the machine's nixpkgs.
      nixosModules.hwc = ./infrastructure;
      nixosModules.default = self.nixosModules.hwc;

      # The user's side (Home Manager): hwc-session-init on the graphical session, desktop entries
      # through gpu-launch, the apps whose system side hwc-doctor checks.
      homeManagerModules.hwc = ./home;
      homeManagerModules.default = self.homeManagerModules.hwc;

      # gatherSys (every */sys.nix of the given directories, for profiles/sys.nix) and
      # mkAppIntegration (an app's system side as a module); also `import ./lib { inherit lib; }`.
      lib = import ./lib { inherit lib; };

      # An NVIDIA Optimus laptop with every seed snippet of the domain's documentation; what
      # `nix eval .#nixosConfigurations.hwc-laptop.config.hwc.infrastructure.session` reads.
      nixosConfigurations.hwc-laptop = lib.nixosSystem {
        modules = [
          self.nixosModules.default
          ./examples/hwc-laptop.nix
          { nixpkgs.hostPlatform = "x86_64-linux"; }
        ];
      };

      checks = forAllSystems (
        system: _:
        {
          hwc = self.packages.${system}.hwc;
        }
        // lib.optionalAttrs (system == "x86_64-linux") {
          hwc-laptop = self.nixosConfigurations.hwc-laptop.config.system.build.toplevel;
        }
      );
    };
}
