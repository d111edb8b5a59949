# A stand-in for the few nixpkgs packages the hwc modules name (nixpkgs itself is not available to
# the tests): each is derivation-shaped, with its output under `store`, which a test fills with the
# programs a unit runs. The builders (linkFarm, writeTextFile) keep what they were given, so a test
# can lay their output out itself. hwc's own package comes through the real lib.callPackageWith
# and install/nix/package.nix, with a stand-in rustPlatform whose output is `hwcOut`.
{
  lib,
  store ? "/nix/store",
  hwcOut ? "${store}/hwc-0.1.0",
}:

let
  fake =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "${store}/${name}";
      drvPath = "${store}/${name}.drv";
    }
    // extra;

  pkgs = {
    inherit lib;
    callPackage = lib.callPackageWith pkgs;

    rustPlatform.buildRustPackage =
      args:
      fake "${args.pname}-${args.version}" {
        outPath = hwcOut;
        inherit (args) pname version meta;
      };
    glibc = fake "glibc" { static = fake "glibc-static" { }; };

    linkFarm = name: entries: fake name { inherit entries; };
    writeTextFile =
      {
        name,
        text,
        destination ? "",
        ...
      }:
      fake name { inherit text destination; };

    gutenprint = fake "gutenprint" { };
    rocmPackages.clr = fake "rocm-clr" { };
    intel-media-driver = fake "intel-media-driver" { };
    sane-airscan = fake "sane-airscan" { };
    xdg-desktop-portal-gtk = fake "xdg-desktop-portal-gtk" { };
  };
in
pkgs
