# Evaluates hwc's Home Manager module with Home Manager's own module system
# (../shared/vendor/home-manager, as its README there says: its stdlib-extended lib, its minimal
# module set, a pkgs stand-in):
#
#   nix-instantiate --eval --strict --json tests/nix/hm-eval.nix --arg configs '[ ./home.nix ]'
#
# The result: the user services as Home Manager declares them and their unit text rendered with
# the generator Home Manager's systemd.nix uses, the desktop entries as Home Manager hands them to
# makeDesktopItem, the files under ~/.config it makes, and hwc's options.
{
  configs,
  # A directory holding nixpkgs' lib and the files of nixos-subset/nixpkgs-path (Home Manager
  # reads them through pkgs.path); the test lays it out with links.
  nixpkgsPath,
  store ? "/nix/store",
  hwcOut ? "${store}/hwc-0.1.0",
  # The NixOS configuration, as Home Manager's NixOS module hands it to the user's modules.
  osConfig ? null,
}:

let
  nixpkgsLib = import ../../../shared/vendor/nixpkgs-lib/lib;
  lib = import ../../../shared/vendor/home-manager/modules/lib/stdlib-extended.nix nixpkgsLib;
  base = import ./pkgs.nix { inherit lib store hwcOut; };
  # Packages Home Manager's core modules name (their defaults), as stand-ins.
  standIns = lib.genAttrs [
    "glibcLocales"
    "shared-mime-info"
    "desktop-file-utils"
  ] (name: base.writeTextFile { inherit name; text = ""; } // { version = "2.40"; });
  # pkgs.formats: each a settings type and a generator (what they generate is not read here).
  format = _: {
    type = lib.types.attrsOf lib.types.anything;
    generate = name: value: base.writeTextFile { inherit name; text = builtins.toJSON value; };
  };
  pkgs = base // standIns // {
    runCommandLocal = base.runCommand;
    formats = lib.genAttrs [ "ini" "json" "toml" "yaml" "keyValue" "iniWithGlobalSection" ] (_: format);
    path = /. + nixpkgsPath;
    stdenv = base.stdenv // {
      hostPlatform = {
        system = "x86_64-linux";
        isLinux = true;
        isDarwin = false;
      };
      isLinux = true;
      isDarwin = false;
    };
    hwc = base.callPackage ../../install/nix/package.nix { };
    # What Home Manager hands makeDesktopItem, kept: the entry as it will be written.
    makeDesktopItem = args: base.writeTextFile { name = "${args.name}.desktop"; text = builtins.toJSON args; };
  };
  modules = import ../../../shared/vendor/home-manager/modules/modules.nix {
    inherit pkgs lib;
    minimal = true;
    useNixpkgsModule = false;
    check = false;
  };
  evaluated = lib.evalModules {
    modules =
      modules
      ++ [
        ../../install/nix/home
        {
          _module.args.pkgs = lib.mkForce pkgs;
          home.username = "eric";
          home.homeDirectory = "/home/eric";
          home.stateVersion = "26.05";
          # Home Manager's manual is built from docs/, which the vendored copy leaves out.
          manual.manpages.enable = false;
          manual.html.enable = false;
          manual.json.enable = false;
          # Its release check reads release.json, which the vendored copy leaves out too.
          home.enableNixpkgsReleaseCheck = false;
        }
      ]
      ++ configs;
    specialArgs = {
      modulesPath = ../../../shared/vendor/home-manager/modules;
    }
    // lib.optionalAttrs (osConfig != null) { inherit osConfig; };
  };
  inherit (evaluated) config;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  checked = if failed == [ ] then config else throw "\nFailed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}";
  # Home Manager's toSystemdIni (modules/systemd.nix), for the text of a unit.
  toSystemdIni = lib.generators.toINI {
    listsAsDuplicateKeys = true;
    mkKeyValue =
      key: value:
      let
        value' = if builtins.isBool value then (if value then "true" else "false") else toString value;
      in
      "${key}=${value'}";
  };
in
{
  userServices = checked.systemd.user.services;
  unitText = lib.mapAttrs (_: toSystemdIni) checked.systemd.user.services;
  desktopEntries = map (p: builtins.fromJSON p.text) (
    lib.filter (p: lib.hasSuffix ".desktop" (p.name or "")) checked.home.packages
  );
  configFiles = lib.mapAttrs (_: f: f.text or null) checked.xdg.configFile;
  inherit (checked) warnings;
  hwc = {
    inherit (checked.hwc.session) apps keybindLines;
  };
  # The module system here does not check definitions against declarations (Home Manager's
  # minimal set defines options it does not declare): what hwc's module sets is checked here.
  undeclared = lib.filter (path: !lib.hasAttrByPath path evaluated.options) [
    [ "systemd" "user" "services" ]
    [ "xdg" "desktopEntries" ]
    [ "xdg" "configFile" ]
    [ "warnings" ]
  ];
}
