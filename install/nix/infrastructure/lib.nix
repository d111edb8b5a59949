# What the infrastructure modules share, as plain functions of lib (not a module): systemd's
# ExecStart syntax, the checks of names and addresses that the kernel and hwc-netlink apply, the
# applets, and the group sets hwc-perms checks (the same as its built-in defaults).
{ lib }:

let
  inherit (lib)
    all
    concatStringsSep
    elem
    match
    replaceStrings
    stringLength
    toInt
    types
    ;
in
rec {
  # The priority of every NixOS option the domain sets: below a user's own setting, even one made
  # with lib.mkDefault (1000, as hardware profiles such as nixos-hardware's write theirs), and
  # above the option's own default (1500, mkOptionDefault). A user's value always wins; hwc's wins
  # over NixOS's default only.
  weak = lib.mkOverride 1250;

  # Every applet of the hwc binary, as `hwc --list` prints them (a test holds the two equal).
  applets = [
    "gpu-launch"
    "hwc-gpu-detect"
    "hwc-perms"
    "hwc-netlink"
    "setup-ssh-keys"
    "hwc-session-init"
    "hwc-doctor"
  ];

  # Group sets: hwc-perms's defaults name the same groups (a test holds them equal).
  groupSets = {
    media = [ "audio" "video" "render" ];
    hardware = [ "input" "i2c" "gpio" "spi" "sensors" ];
    development = [ "dialout" "kvm" "plugdev" ];
    peripherals = [ "lp" "scanner" ];
  };

  # One ExecStart argument that systemd reads back as exactly `arg`: JSON's string escapes
  # (\" \\ \n \t \uXXXX) are also systemd's C escapes inside a quoted word; `%` starts a
  # specifier and `$` a variable unless doubled.
  execArg = arg: replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON (toString arg));

  # The program of an ExecStart line. systemd substitutes no variable in it, so `$` is refused
  # rather than doubled; it must be an absolute path without quotes, backslashes or controls.
  execProgram =
    program:
    let
      path = toString program;
    in
    if match "/[^\"'\\\\$%[:cntrl:]]+" path == null then
      throw "hwc: '${path}' cannot be an ExecStart program (an absolute path without quotes, backslashes, $, % or control characters)"
    else
      builtins.toJSON path;

  # A whole ExecStart line: the program, then each argument as systemd will hand it over.
  execLine = program: args: concatStringsSep " " ([ (execProgram program) ] ++ map execArg args);

  # An interface name the kernel takes (dev_valid_name): 1-15 bytes, not . or .., no /, : or
  # white space; here also printable ASCII, so every name has a unit name. hwc-netlink refuses
  # the same names.
  isIfName =
    name:
    stringLength name >= 1
    && stringLength name <= 15
    && !(elem name [ "." ".." ])
    && match "[!-9;-~]+" name != null
    && match ".*/.*" name == null;

  # `text` as part of a unit name: every character a unit name cannot hold (all but letters,
  # digits, `:`, `_`, `.` and `-`) as \xHH, and a leading `.`, as systemd-escape writes it
  # (`br+lab` gives `br\x2blab`).
  unitNamePart = text: escapeUnit "[A-Za-z0-9:_.-]" text;

  escapeUnit =
    keep: text:
    let
      escaped = lib.strings.escapeC (lib.unique (
        lib.filter (c: match keep c == null) (lib.stringToCharacters text)
      )) text;
    in
    if lib.hasPrefix "." escaped then "\\x2e" + lib.substring 1 (-1) escaped else escaped;

  # An absolute path that systemd settings (PathChanged=, RequiresMountsFor=, mount units) take
  # as it is: no white space, quotes, backslashes, `%` or `$`.
  systemdPath = types.strMatching "/[A-Za-z0-9._/+@:,=-]*" // {
    description = "absolute path of letters, digits and . _ / + @ : , = - (as systemd settings take it)";
  };

  isIPv4 =
    text:
    let
      octets = match "(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})" text;
    in
    octets != null && all (o: toInt o <= 255) octets;

  # At most four hex digits a group, as hwc-netlink's parser (Rust's) takes them; nixpkgs lib's
  # parser would take sixteen.
  isIPv6 =
    text:
    match "[0-9a-fA-F:]+" text != null
    && lib.all (group: builtins.stringLength group <= 4) (lib.splitString ":" text)
    && (builtins.tryEval (builtins.deepSeq (lib.network.ipv6.fromString text) true)).value;

  # Whether two addresses are one: IPv6 has many spellings of each (`fd00::1`, `fd00:0::1`,
  # `FD00:0:0:0:0:0:0:0001`), compared expanded; IPv4's one spelling (isIPv4 takes no leading
  # zeros) as written.
  sameAddress =
    a: b:
    if isIPv6 a && isIPv6 b then
      (lib.network.ipv6.fromString a).address == (lib.network.ipv6.fromString b).address
    else
      a == b;

  # ADDRESS/PREFIX with the prefix length in range for the family (IPv4 /0-32, IPv6 /0-128).
  isCidr =
    text:
    let
      parts = match "([^/]+)/(0|[1-9][0-9]{0,2})" text;
      address = builtins.elemAt parts 0;
      length = toInt (builtins.elemAt parts 1);
    in
    parts != null
    && (
      (isIPv4 address && length <= 32) || (isIPv6 address && length <= 128)
    );

  cidr = types.addCheck types.str isCidr // {
    name = "cidr";
    description = "IPv4 or IPv6 address with its prefix length (CIDR, e.g. 10.88.0.1/16)";
  };

  # An IPv4 address as a number (for ranges and subnets); the text must pass isIPv4.
  ipv4ToInt =
    text:
    lib.foldl' (n: o: n * 256 + toInt o) 0 (match "([0-9]+)\\.([0-9]+)\\.([0-9]+)\\.([0-9]+)" text);

  # An IPv4 CIDR's first address and size as numbers, and its prefix length.
  ipv4Block =
    text:
    let
      parts = match "([^/]+)/([0-9]+)" text;
      prefix = toInt (builtins.elemAt parts 1);
      size = lib.foldl' (n: _: n * 2) 1 (lib.range 1 (32 - prefix));
      address = ipv4ToInt (builtins.elemAt parts 0);
    in
    {
      inherit prefix size;
      first = address - lib.mod address size;
    };

  # Whether the IPv4 address `text` lies in the block `block` (of ipv4Block).
  inIpv4Block = block: text: let n = ipv4ToInt text; in n >= block.first && n < block.first + block.size;

  # `text` as part of a unit name made from a path (a device unit's
  # sys-subsystem-net-devices-NAME.device): as systemd-escape --path writes it, `-` escaped too.
  pathUnitPart = text: escapeUnit "[A-Za-z0-9:_.]" text;

  # NixOS's PCI bus id: exactly what its own option type accepts (busIDType in
  # nixos/modules/hardware/video/nvidia.nix), so a value hwc takes is one NixOS takes and back:
  # PCI:<bus>@<domain>:<device>:<function>, decimal, the domain optional and up to ten digits (a
  # GPU behind Intel VMD sits in domain 65536). "" is NixOS's "unset". hwc-gpu-detect --nixos
  # prints them so.
  busId = types.strMatching "([[:print:]]+:[0-9]{1,3}(@[0-9]{1,10})?:[0-9]{1,2}:[0-9])?" // {
    name = "busId";
    description = "PCI bus id as NixOS writes it, decimal: PCI:<bus>@<domain>:<device>:<function> (see hwc-gpu-detect --nixos)";
  };

  # The assertions on a module's user option `option` (its full name) holding `user`: set, and
  # an account the configuration declares (hwc's modules only add to it; a half-declared user
  # would fail NixOS's own checks without naming the hwc option). `fallbacks` says what it
  # defaults to.
  userAssertions =
    config: option: user: fallbacks:
    let
      u = config.users.users.${user} or { };
    in
    [
      {
        assertion = user != null;
        message = "${option} is not set, and ${fallbacks} names no user to default to.";
      }
      {
        assertion = user == null || (u.isNormalUser or false) || (u.isSystemUser or false);
        message = "${option}: '${toString user}' is not a user of this configuration (users.users.${toString user} with isNormalUser or isSystemUser).";
      }
    ];

  # `key` without one trailing line break: a key read with builtins.readFile ends in one.
  oneLine = key: lib.removeSuffix "\r" (lib.removeSuffix "\n" key);

  # An option path as users write it, for messages.
  optionName = path: concatStringsSep "." ([ "hwc" "infrastructure" ] ++ path);

  # config.hwc.system.users.user.name when another domain declares and sets that option, else
  # null: the machine's main user, as the users' own system domain names it.
  systemUserName =
    options:
    let
      option = lib.attrByPath [ "hwc" "system" "users" "user" "name" ] null options;
    in
    if option != null && (option.isDefined or false) then option.value else null;

  # The sandbox of a oneshot that runs as root and needs only `capabilities`; the shipped units
  # in install/systemd carry the same settings.
  hardening = capabilities: {
    # An empty assignment is the empty set; no line at all would be the full one.
    CapabilityBoundingSet = if capabilities == [ ] then "" else capabilities;
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = "read-only";
    PrivateTmp = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    SystemCallArchitectures = "native";
  };
}
