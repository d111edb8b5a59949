# Evaluates the hwc infrastructure domain as NixOS does: the real nixpkgs module system
# (../shared/vendor/nixpkgs-lib) with NixOS's own declarations of every option the domain sets
# (../shared/vendor/nixos-subset: systemd's unit options and unit generation, decls.nix for the
# hardware, services, boot and users options with nixpkgs' 26.05 defaults and assertions), more
# of nixpkgs' own declarations in nixos-decls.nix, and agenix's real module:
#
#   nix-instantiate --eval --strict --json tests/nix/eval.nix \
#     --arg configs '[ ./my-config.nix ]' [--argstr stage1 scripted] \
#     [--argstr agenix activation|sysusers|userborn] [--argstr store DIR] [--argstr hwcOut DIR]
#     [--argstr system aarch64-linux]
#
# stage1: "systemd" (26.05's default) or "scripted" (boot.initrd.systemd.enable = false, as a
# user sets it). agenix: which of agenix's three modes installs the secrets ("activation" is its
# default, "sysusers" and "userborn" turn those on), or "none": agenix's module not imported.
# system: the host platform pkgs' stand-in is for (x86_64-linux, or aarch64-linux).
#
# Failed assertions stop the evaluation with NixOS's own wording. The result is JSON: the units
# exactly as NixOS's unit generation writes them, /etc files, users, groups, packages on PATH,
# the NixOS settings the modules made, and agenix's activation snippets.
{
  configs,
  store ? "/nix/store",
  hwcOut ? "${store}/hwc-0.1.0",
  stage1 ? "systemd",
  agenix ? "activation",
  system ? "x86_64-linux",
}:

let
  lib = import ../../../shared/vendor/nixpkgs-lib/lib;
  pkgs = import ./pkgs.nix { inherit lib store hwcOut system; };
  inherit (lib)
    concatMapStrings
    filterAttrs
    isDerivation
    mapAttrs
    nameValuePair
    ;

  evaluated = lib.evalModules {
    modules =
      import ./nixos.nix {
        inherit lib pkgs;
        agenix = agenix != "none";
      }
      ++ [
      ../../install/nix/infrastructure
      {
        # What the machine's own configuration says, at normal priority, as a user writes it.
        boot.initrd.systemd.enable = lib.mkIf (stage1 == "scripted") false;
        systemd.sysusers.enable = lib.mkIf (agenix == "sysusers") true;
        services.userborn.enable = lib.mkIf (agenix == "userborn") true;
      }
    ]
    ++ configs;
  };
  inherit (evaluated) config;

  known =
    lib.assertMsg (lib.elem stage1 [ "systemd" "scripted" ]) "stage1: systemd or scripted"
    && lib.assertMsg (lib.elem agenix [ "activation" "sysusers" "userborn" "none" ]) "agenix: activation, sysusers, userborn or none"
    && lib.assertMsg (lib.elem system [ "x86_64-linux" "aarch64-linux" ]) "system: x86_64-linux or aarch64-linux";
  failed = assert known; map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  checked =
    if failed == [ ] then
      config
    else
      throw "\nFailed assertions:\n${concatMapStrings (m: "- ${m}\n") failed}";

  # Values as JSON can carry them: a package as its name and output `out` (and what a stand-in
  # builder was given), functions dropped.
  data =
    value:
    if isDerivation value then
      {
        package = value.name;
        out = toString value.outPath;
      }
      // lib.optionalAttrs (value ? entries) { entries = data value.entries; }
      // lib.optionalAttrs (value ? text) {
        inherit (value) text;
        destination = value.destination or "";
      }
    else if builtins.isFunction value then
      null
    else if builtins.isAttrs value then
      mapAttrs (_: data) value
    else if builtins.isList value then
      map data value
    else if builtins.isPath value then
      toString value
    else
      value;

  # The unit files NixOS installs: `systemd.units.<name>.text`, as its unit generation wrote it.
  unitFiles = units: mapAttrs (_: u: u.text) (filterAttrs (_: u: u.enable) units);
  # What switch-to-configuration and systemd read besides the text: the [Install] links.
  unitLinks = units: mapAttrs (_: u: { inherit (u) wantedBy requiredBy; }) (filterAttrs (_: u: u.enable) units);
in
{
  warnings = checked.warnings;
  units = unitFiles checked.systemd.units;
  unitLinks = unitLinks checked.systemd.units;
  userUnits = unitFiles checked.systemd.user.units;
  services = mapAttrs (_: s: data { inherit (s) serviceConfig wantedBy requiredBy after before unitConfig; }) checked.systemd.services;
  paths = mapAttrs (_: p: data { inherit (p) pathConfig wantedBy; }) checked.systemd.paths;
  timers = mapAttrs (_: t: data { inherit (t) timerConfig wantedBy; }) checked.systemd.timers;
  userServices = mapAttrs (_: s: data { inherit (s) serviceConfig wantedBy; }) checked.systemd.user.services;
  tmpfiles = checked.systemd.tmpfiles.rules;
  etc = lib.mapAttrs' (_: f: nameValuePair f.target { inherit (f) text mode; }) (filterAttrs (_: f: f.enable) checked.environment.etc);
  users = mapAttrs (_: u: { inherit (u) name uid group home extraGroups isNormalUser; }) checked.users.users;
  groups = mapAttrs (_: g: { inherit (g) name gid members; }) checked.users.groups;
  systemPackages = data checked.environment.systemPackages;
  hwc = data checked.hwc.infrastructure;
  nixos = data {
    inherit (checked)
      hardware
      services
      boot
      fileSystems
      programs
      xdg
      ;
    sessionVariables = checked.environment.sessionVariables;
  };
  # agenix's activation snippets, by name, with the snippets each runs after (activation mode).
  activation = mapAttrs (_: s: { inherit (s) text deps; }) (
    filterAttrs (_: s: builtins.isAttrs s && s ? text) checked.system.activationScripts
  );
  age =
    if checked ? age then
      {
        inherit (checked.age) secretsDir secretsMountPoint;
        secrets = mapAttrs (_: s: { inherit (s) path; file = toString s.file; }) checked.age.secrets;
      }
    else
      null;
}
