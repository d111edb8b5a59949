# The few nixpkgs lib functions install/nix/module.nix uses, reduced to what lets its option
# declarations be evaluated without nixpkgs: options are marked with _type = "option", types are
# descriptions that keep submodules reachable.
rec {
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: mkOption { type = types.bool; default = false; description = "Whether to enable ${name}."; };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkDefault = x: x;
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  types = {
    bool = { name = "bool"; };
    str = { name = "str"; };
    path = { name = "path"; };
    package = { name = "package"; };
    enum = values: { name = "enum"; inherit values; };
    nullOr = elem: { name = "nullOr"; inherit elem; };
    listOf = elem: { name = "listOf"; inherit elem; };
    attrsOf = elem: { name = "attrsOf"; inherit elem; };
    submodule = module: { name = "submodule"; inherit module; };
  };
  concatLists = builtins.concatLists;
  concatStringsSep = builtins.concatStringsSep;
  concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
  mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
  mapAttrs' = f: attrs: builtins.listToAttrs (mapAttrsToList f attrs);
  nameValuePair = name: value: { inherit name value; };
  optionals = cond: list: if cond then list else [ ];
  escapeShellArg = s: "'${s}'";
}
