# Evaluates to the option paths of hwc.infrastructure that the module does NOT declare; a correct
# module gives []. Run with: nix-instantiate --eval --strict --json tests/nix/option-paths.nix
let
  lib = import ./stub-lib.nix;
  module = import ../../install/nix/module.nix { config = { }; inherit lib; pkgs = { }; };
  root = module.options.hwc.infrastructure;
  # Follows a path through attribute sets and into submodule options ("*" = any attribute name).
  walk = node: path:
    if path == [ ] then node
    else
      let step = builtins.head path; rest = builtins.tail path; in
      if step == "*" then
        (if node ? type && node.type.name or "" == "attrsOf" && node.type.elem.name or "" == "submodule"
         then walk node.type.elem.module.options rest else null)
      else if builtins.isAttrs node && node ? ${step} then walk node.${step} rest
      else null;
  isOption = path: let n = walk root path; in n != null && (n._type or "") == "option";
  wanted = [
    [ "hardware" "gpu" "enable" ]
    [ "hardware" "gpu" "type" ]
    [ "hardware" "gpu" "nvidia" "containerRuntime" ]
    [ "hardware" "gpu" "accel" ]
    [ "hardware" "permissions" "enable" ]
    [ "hardware" "permissions" "groups" "media" ]
    [ "hardware" "permissions" "groups" "hardware" ]
    [ "hardware" "permissions" "groups" "development" ]
    [ "session" "services" "enable" ]
    [ "session" "services" "username" ]
    [ "session" "services" "secret" ]
    [ "session" "services" "fallbackKeys" ]
    [ "session" "commands" "enable" ]
    [ "session" "commands" "gpuLaunch" ]
    [ "session" "init" "enable" ]
    [ "mesh" "containerNetworking" "enable" ]
    [ "mesh" "containerNetworking" "bridges" ]
    [ "mesh" "containerNetworking" "bridges" "*" "addresses" ]
    [ "initrd" "enable" ]
  ];
in
{
  missing = map (builtins.concatStringsSep ".") (builtins.filter (p: !isOption p) wanted);
  accelIsReadOnly = (walk root [ "hardware" "gpu" "accel" ]).readOnly or false;
  gpuTypes = (walk root [ "hardware" "gpu" "type" ]).type.values;
}
