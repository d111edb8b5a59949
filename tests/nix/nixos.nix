# NixOS, as far as the tests have it: the modules that declare every NixOS option the hwc domain
# (and a machine using it) sets, with NixOS's own types, defaults, assertions and unit generation
# (../shared/vendor/nixos-subset, and nixos-decls.nix for the rest), and `pkgs`, the stand-in
# of pkgs.nix. eval.nix evaluates the domain with them; the flake test's nixpkgs stand-in builds
# its `lib.nixosSystem` from them.
{
  lib,
  pkgs,
  agenix ? true,
}:

let
  vendor = ../../../shared/vendor/nixos-subset;
in
[
  (vendor + "/systemd-module.nix")
  (vendor + "/decls.nix")
  ./nixos-decls.nix
  { _module.args.pkgs = pkgs; }
]
++ lib.optional agenix (vendor + "/agenix-age.nix")
