# A stand-in for the few nixpkgs packages and builders the hwc modules, NixOS's unit generation
# and agenix's module name (nixpkgs itself is not available to the tests): each is
# derivation-shaped, with its output under `store`, which a test fills with the programs a unit
# runs. A builder's output is named by a hash of what it was given, as a store path is, and keeps
# what it was given (linkFarm's entries, writeTextFile's text), so a test can lay the output out
# itself. hwc's own package comes through the real lib.callPackageWith and
# install/nix/package.nix, with a stand-in rustPlatform whose output is `hwcOut`.
{
  lib,
  store ? "/nix/store",
  hwcOut ? "${store}/hwc-0.1.0",
  # The host platform: x86_64-linux or aarch64-linux.
  system ? "x86_64-linux",
}:

let
  fake =
    name: extra:
    let
      drv = {
        type = "derivation";
        inherit name;
        outPath = "${store}/${name}";
        drvPath = "${store}/${name}.drv";
        meta = { };
        overrideAttrs = f: drv // f drv;
      }
      // extra;
    in
    drv;
  # A builder's output: its store path named by what it was given.
  built =
    name: given: extra:
    fake name (
      {
        outPath = "${store}/${builtins.substring 0 32 (builtins.hashString "sha256" (builtins.toJSON given))}-${name}";
      }
      // extra
    );
  script =
    name: text:
    built name text {
      inherit text;
      meta.mainProgram = name;
    };

  pkgs = {
    inherit lib;
    callPackage = lib.callPackageWith pkgs;
    stdenv.hostPlatform = {
      inherit system;
      isx86_64 = system == "x86_64-linux";
      isAarch64 = system == "aarch64-linux";
    };

    rustPlatform.buildRustPackage =
      args:
      fake "${args.pname}-${args.version}" {
        outPath = hwcOut;
        inherit (args) pname version meta;
      };
    glibc = fake "glibc" { static = fake "glibc-static" { }; };

    linkFarm = name: entries: built name entries { inherit entries; };
    writeTextFile =
      {
        name,
        text,
        destination ? "",
        ...
      }:
      built name [ text destination ] { inherit text destination; };
    writeText =
      name: text:
      built name text {
        inherit text;
        destination = "";
      };
    runCommand = name: env: command: built name [ env command ] { };
    writeShellScript = script;
    writeShellScriptBin = script;
    writeShellApplication = { name, text, ... }: script name text;

    # What NixOS's unit generation puts on every unit's PATH, and agenix's programs.
    coreutils = fake "coreutils" { };
    findutils = fake "findutils" { };
    gnugrep = fake "gnugrep" { };
    gnused = fake "gnused" { };
    systemd = fake "systemd" { };
    age = fake "age" { };
    mount = fake "util-linux-mount" { };

    gutenprint = fake "gutenprint" { };
    rocmPackages.clr = fake "rocm-clr" { };
    intel-media-driver = fake "intel-media-driver" { };
    sane-airscan = fake "sane-airscan" { };
    xdg-desktop-portal-gtk = fake "xdg-desktop-portal-gtk" { };
    jellyfin = fake "jellyfin" { };
    docker = fake "docker" { };
    linuxPackages = {
      v4l2loopback = fake "v4l2loopback" { };
      # An x86_64 kernel runs 32-bit programs (graphics.nix's enable32Bit asks).
      kernel.features.ia32Emulation = system == "x86_64-linux";
    };
  };
in
pkgs
