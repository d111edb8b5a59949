# Evaluates the hwc infrastructure domain as NixOS would, with the real nixpkgs module system
# (../shared/vendor/nixpkgs-lib) and the NixOS options it sets declared in nixos-options.nix:
#
#   nix-instantiate --eval --strict --json tests/nix/eval.nix \
#     --arg configs '[ ./my-config.nix ]' [--argstr store DIR] [--argstr hwcOut DIR]
#
# Failed assertions stop the evaluation with NixOS's own wording. The result is JSON: the units
# as systemd will read them (unit files, as NixOS writes them), /etc files, users, groups,
# packages on PATH, and the NixOS settings the modules made.
{
  configs,
  store ? "/nix/store",
  hwcOut ? "${store}/hwc-0.1.0",
}:

let
  lib = import ../../../shared/vendor/nixpkgs-lib/lib;
  pkgs = import ./pkgs.nix { inherit lib store hwcOut; };
  inherit (lib)
    concatMapStrings
    concatStrings
    filterAttrs
    isDerivation
    mapAttrs
    mapAttrs'
    mapAttrsToList
    nameValuePair
    toList
    ;

  evaluated = lib.evalModules {
    modules = [
      ./nixos-options.nix
      ../../install/nix/infrastructure
      { _module.args.pkgs = pkgs; }
    ]
    ++ configs;
  };
  config = evaluated.config;

  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
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
      // lib.optionalAttrs (value ? text) { inherit (value) text destination; }
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

  # Unit files as nixos/lib/systemd-lib.nix writes them: one line per value, lists repeated,
  # booleans as true/false, empty settings left out.
  setting =
    v:
    if v == true then
      "true"
    else if v == false then
      "false"
    else
      toString v;
  lines = key: value: concatMapStrings (v: "${key}=${setting v}\n") (toList value);
  section = name: attrs: "[${name}]\n" + concatStrings (mapAttrsToList lines attrs);
  unitSection =
    u:
    section "Unit" (
      filterAttrs (_: v: v != "") {
        Description = u.description;
        Wants = u.wants;
        Requires = u.requires;
        After = u.after;
        Before = u.before;
        PartOf = u.partOf;
        BindsTo = u.bindsTo;
        Conflicts = u.conflicts;
      }
      // lib.optionalAttrs (u.restartTriggers != [ ]) {
        # A path stands for its store path, which its content names.
        X-Restart-Triggers = builtins.hashString "sha256" (
          builtins.toJSON (map (t: if builtins.isPath t then builtins.hashFile "sha256" t else t) u.restartTriggers)
        );
      }
      // u.unitConfig
    );
  serviceFile = s: unitSection s + section "Service" s.serviceConfig;
  pathFile = p: unitSection p + section "Path" p.pathConfig;
  timerFile = t: unitSection t + section "Timer" t.timerConfig;
  files = suffix: render: units: mapAttrs' (name: u: nameValuePair "${name}.${suffix}" (render u)) (filterAttrs (_: u: u.enable) units);
in
{
  warnings = checked.warnings;
  units =
    files "service" serviceFile checked.systemd.services
    // files "path" pathFile checked.systemd.paths
    // files "timer" timerFile checked.systemd.timers;
  userUnits = files "service" serviceFile checked.systemd.user.services;
  services = mapAttrs (_: s: data { inherit (s) serviceConfig wantedBy after before unitConfig; }) checked.systemd.services;
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
}
