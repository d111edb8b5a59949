# Container networks that span machines: a network is declared once for a fleet (the same file
# imported by every machine, each setting only its own hostAddress, leaseRange and overlay.local)
# and becomes, on each machine, a bridge with the host's address, a VXLAN overlay on it whose
# forwarding entries are exactly the other machines (head-end replication over the underlay:
# a LAN, or a WireGuard or Tailscale interface, where encryption belongs), and the network as
# podman (netavark) and docker know it, pointing at hwc's bridge with this host's lease range.
#
# hwc-netlink keeps the links (ensure-bridge, ensure-overlay: created or corrected, never a link of
# another VNI or port), the unit re-runs whenever the underlay interface comes back, and
# hwc-doctor checks the result.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  cfg = config.hwc.infrastructure.mesh.containerNetworking;
  hwc = config.hwc.infrastructure.session.commands.package;
  opt = name: hwcLib.optionName [ "mesh" "containerNetworking" "networks" name ];

  ipv4 = types.addCheck types.str hwcLib.isIPv4 // {
    name = "ipv4";
    description = "IPv4 address";
  };
  ipAddress = types.addCheck types.str (a: hwcLib.isIPv4 a || hwcLib.isIPv6 a) // {
    name = "ipAddress";
    description = "IPv4 or IPv6 address";
  };
  ipv4Subnet = types.addCheck hwcLib.cidr (c: hwcLib.isIPv4 (lib.head (lib.splitString "/" c))) // {
    name = "ipv4Subnet";
    description = "IPv4 subnet (CIDR, e.g. 10.77.0.0/24)";
  };
  leaseRange = types.submodule {
    options = {
      start = mkOption {
        type = ipv4;
        description = "First address this host's containers get.";
      };
      end = mkOption {
        type = ipv4;
        description = "Last address this host's containers get.";
      };
    };
  };

  networkType = types.submodule (
    { name, ... }:
    {
      options = {
        subnet = mkOption {
          type = ipv4Subnet;
          example = "10.77.0.0/24";
          description = "The network's subnet, the same on every machine of the fleet.";
        };
        hostAddress = mkOption {
          type = ipv4;
          example = "10.77.0.1";
          description = "This machine's address on the network (its bridge's; the gateway of its containers). One per machine.";
        };
        leaseRange = mkOption {
          type = leaseRange;
          example = {
            start = "10.77.0.10";
            end = "10.77.0.99";
          };
          description = "The addresses this machine's containers get: a range of the subnet no other machine's range overlaps.";
        };
        bridge = mkOption {
          type = types.str;
          default = "hwc-${name}";
          defaultText = lib.literalExpression ''"hwc-''${name}"'';
          description = "The bridge's interface name (1-15 bytes, no '/', ':' or spaces).";
        };
        overlay = mkOption {
          default = null;
          description = "The VXLAN overlay that joins this network across machines; null keeps it on this machine.";
          type = types.nullOr (
            types.submodule {
              options = {
                vni = mkOption {
                  type = types.ints.between 1 16777215;
                  description = "The VXLAN network identifier, the same on every machine and unique per network.";
                };
                port = mkOption {
                  type = types.port;
                  default = 4789;
                  description = "The UDP port VXLAN uses (IANA's 4789); the underlay must carry it.";
                };
                underlay = mkOption {
                  type = types.str;
                  example = "wg0";
                  description = "The interface the other machines are reached over (a LAN NIC, wg0, tailscale0).";
                };
                local = mkOption {
                  type = ipAddress;
                  description = "This machine's address on the underlay.";
                };
                peers = mkOption {
                  type = types.listOf ipAddress;
                  default = [ ];
                  description = "The underlay addresses of the fleet's machines; this machine's own (local) is left out, so every machine can import the same list.";
                };
                underlayMtu = mkOption {
                  type = types.ints.between 1280 65535;
                  default = 1500;
                  description = "The underlay's MTU (1420 for WireGuard, 1280 for Tailscale): the overlay's is this less VXLAN's 50 bytes (70 over IPv6).";
                };
                mtu = mkOption {
                  type = types.nullOr (types.ints.between 68 65535);
                  default = null;
                  description = "The overlay's MTU, given to the link and to the container runtimes; null: underlayMtu less VXLAN's overhead.";
                };
              };
            }
          );
        };
        podman = mkOption {
          type = types.bool;
          default = false;
          description = "Tell podman (netavark) of the network: /etc/containers/networks/NAME.json on hwc's bridge with this host's lease range, so `podman run --network NAME` joins it.";
        };
        docker = mkOption {
          type = types.bool;
          default = false;
          description = "Tell docker of the network (a oneshot after docker.service: created if missing, left if it matches, an error naming the difference if not).";
        };
        fleet = mkOption {
          type = types.attrsOf (
            types.submodule {
              options = {
                hostAddress = mkOption { type = ipv4; };
                leaseRange = mkOption { type = leaseRange; };
              };
            }
          );
          default = { };
          description = "Every machine's hostAddress and leaseRange, by machine (this one may be among them): checked for overlaps at evaluation.";
        };
      };
    }
  );

  networks = cfg.networks;
  valid = lib.filterAttrs (_: n: hwcLib.isIfName n.bridge) networks;

  # What each network becomes on this machine.
  plan =
    name: n:
    let
      block = hwcLib.ipv4Block n.subnet;
      overlay = n.overlay;
      v6 = overlay != null && hwcLib.isIPv6 overlay.local;
      mtu =
        if overlay == null then
          null
        else if overlay.mtu != null then
          overlay.mtu
        else
          overlay.underlayMtu - (if v6 then 70 else 50);
    in
    {
      inherit block mtu;
      link = "vx-${toString overlay.vni}";
      # Each peer once (however the list spells it, the first spelling kept), this machine left
      # out: hwc-netlink makes one entry for each, and hwc-doctor counts them.
      peers =
        if overlay == null then
          [ ]
        else
          lib.foldl' (
            kept: p:
            if lib.any (hwcLib.sameAddress p) ([ overlay.local ] ++ kept) then kept else kept ++ [ p ]
          ) [ ] overlay.peers;
    };
  plans = lib.mapAttrs plan networks;

  unit = name: "hwc-network-${hwcLib.unitNamePart name}";
  device = underlay: "sys-subsystem-net-devices-${hwcLib.pathUnitPart underlay}.device";

  # The fleet's hosts for the checks: every fleet entry but this machine's own (by its host
  # name), and this machine.
  me = config.networking.hostName;
  hostsOf =
    n:
    lib.mapAttrsToList (machine: h: h // { inherit machine; }) (removeAttrs n.fleet [ me ])
    ++ [
      {
        machine = "this machine";
        inherit (n) hostAddress leaseRange;
      }
    ];
  rangeOf = r: {
    first = hwcLib.ipv4ToInt r.start;
    last = hwcLib.ipv4ToInt r.end;
  };
  inRange = r: a: let n = hwcLib.ipv4ToInt a; x = rangeOf r; in n >= x.first && n <= x.last;
  overlaps = a: b: let x = rangeOf a; y = rangeOf b; in x.first <= y.last && y.first <= x.last;
  # Pairs of distinct hosts (the same address and range twice is one host, listed twice).
  pairs =
    hosts:
    lib.concatMap (
      i:
      map (j: {
        a = builtins.elemAt hosts i;
        b = builtins.elemAt hosts j;
      }) (lib.range (i + 1) (lib.length hosts - 1))
    ) (lib.range 0 (lib.length hosts - 1));
  rangeText = r: "${r.start}-${r.end}";
  # A range of the subnet, its start not after its end.
  rangeIn = block: r: hwcLib.inIpv4Block block r.start && hwcLib.inIpv4Block block r.end && (rangeOf r).first <= (rangeOf r).last;

  networkAssertions =
    name: n:
    let
      p = plans.${name};
      hosts = hostsOf n;
      hostPairs = pairs hosts;
      subnetAddress = lib.head (lib.splitString "/" n.subnet);
      mine = n.fleet.${me} or null;
    in
    [
      {
        assertion = hwcLib.ipv4ToInt subnetAddress == p.block.first;
        message = "${opt name}.subnet: ${n.subnet} has host bits set; the subnet is its first address (docker and podman take no other).";
      }
      {
        assertion = builtins.match "[A-Za-z0-9][A-Za-z0-9_.-]*" name != null;
        message = "${opt name}: '${name}' cannot name a network (podman and docker take letters, digits, '_', '.' and '-', a letter or digit first).";
      }
      {
        assertion = hwcLib.isIfName n.bridge;
        message = "${opt name}.bridge: '${n.bridge}' cannot be an interface name (1-15 printable ASCII bytes, no '/', ':' or spaces).";
      }
      {
        assertion = hwcLib.inIpv4Block p.block n.hostAddress;
        message = "${opt name}.hostAddress: ${n.hostAddress} is not in the subnet ${n.subnet}.";
      }
      {
        assertion = rangeIn p.block n.leaseRange;
        message = "${opt name}.leaseRange: ${rangeText n.leaseRange} is not a range of the subnet ${n.subnet}.";
      }
      {
        assertion = mine == null || (mine.hostAddress == n.hostAddress && mine.leaseRange == n.leaseRange);
        message = "${opt name}.fleet.${me}: this machine (networking.hostName) is listed with ${if mine == null then "" else "${mine.hostAddress} and ${rangeText mine.leaseRange}"}, but has ${n.hostAddress} and ${rangeText n.leaseRange}.";
      }
      {
        assertion = !(inRange n.leaseRange n.hostAddress);
        message = "${opt name}.leaseRange: ${rangeText n.leaseRange} holds the host address ${n.hostAddress}.";
      }
    ]
    ++ lib.concatMap (h: [
      {
        assertion = hwcLib.inIpv4Block p.block h.hostAddress && rangeIn p.block h.leaseRange;
        message = "${opt name}.fleet.${h.machine}: ${h.hostAddress} and ${rangeText h.leaseRange} are not an address and a range of the subnet ${n.subnet}.";
      }
    ]) (lib.filter (h: h.machine != "this machine") hosts)
    ++ map (pair: {
      assertion = pair.a.hostAddress != pair.b.hostAddress;
      message = "${opt name}.hostAddress: ${pair.a.machine} and ${pair.b.machine} both have ${pair.a.hostAddress}.";
    }) hostPairs
    ++ map (pair: {
      assertion = !(overlaps pair.a.leaseRange pair.b.leaseRange);
      message = "${opt name}.leaseRange: ${pair.a.machine}'s ${rangeText pair.a.leaseRange} overlaps ${pair.b.machine}'s ${rangeText pair.b.leaseRange}.";
    }) hostPairs
    ++ lib.concatMap (pair: [
      {
        assertion = !(inRange pair.b.leaseRange pair.a.hostAddress);
        message = "${opt name}.hostAddress: ${pair.a.machine}'s ${pair.a.hostAddress} is inside ${pair.b.machine}'s lease range ${rangeText pair.b.leaseRange}.";
      }
      {
        assertion = !(inRange pair.a.leaseRange pair.b.hostAddress);
        message = "${opt name}.hostAddress: ${pair.b.machine}'s ${pair.b.hostAddress} is inside ${pair.a.machine}'s lease range ${rangeText pair.a.leaseRange}.";
      }
    ]) hostPairs
    ++ lib.optionals (n.overlay != null) [
      {
        assertion = hwcLib.isIfName n.overlay.underlay;
        message = "${opt name}.overlay.underlay: '${n.overlay.underlay}' cannot be an interface name.";
      }
      {
        assertion = lib.all (peer: hwcLib.isIPv6 peer == hwcLib.isIPv6 n.overlay.local) p.peers;
        message = "${opt name}.overlay.peers: an overlay's peers and its local address are all IPv4 or all IPv6.";
      }
    ]
    ++ lib.optionals n.docker [
      {
        assertion = config.virtualisation.docker.enable;
        message = "${opt name}.docker needs docker: virtualisation.docker.enable = true.";
      }
      {
        assertion = dockerRange n != null;
        message = "${opt name}.leaseRange: docker takes a lease range only as a CIDR block (--ip-range); ${rangeText n.leaseRange} is not one (a power-of-two size starting at a multiple of it).";
      }
    ]
    ++ lib.optionals n.podman [
      {
        assertion = config.virtualisation.podman.enable;
        message = "${opt name}.podman needs podman: virtualisation.podman.enable = true.";
      }
    ];

  # The lease range as the CIDR block docker's --ip-range takes, or null when it is not one.
  dockerRange =
    n:
    let
      r = rangeOf n.leaseRange;
      size = r.last - r.first + 1;
      prefixes = lib.filter (len: (hwcLib.ipv4Block "0.0.0.0/${toString len}").size == size) (lib.range 0 32);
    in
    if prefixes != [ ] && lib.mod r.first size == 0 then
      "${n.leaseRange.start}/${toString (lib.head prefixes)}"
    else
      null;

  vniUsers = lib.groupBy (name: toString networks.${name}.overlay.vni) (
    lib.attrNames (lib.filterAttrs (_: n: n.overlay != null) networks)
  );
  bridgeUsers = lib.groupBy (name: networks.${name}.bridge) (lib.attrNames networks);
  twice = groups: lib.filterAttrs (_: names: lib.length names > 1) groups;

  # podman's network file (netavark's format, as `podman network create` writes it).
  netavark =
    name: n:
    let
      p = plans.${name};
    in
    {
      inherit name;
      id = builtins.hashString "sha256" "hwc-network-${name}";
      driver = "bridge";
      network_interface = n.bridge;
      created = "2026-01-01T00:00:00Z";
      subnets = [
        {
          subnet = n.subnet;
          gateway = n.hostAddress;
          lease_range = {
            start_ip = n.leaseRange.start;
            end_ip = n.leaseRange.end;
          };
        }
      ];
      ipv6_enabled = false;
      internal = false;
      dns_enabled = false;
      options = lib.optionalAttrs (p.mtu != null) { mtu = toString p.mtu; };
      ipam_options.driver = "host-local";
    };

  dockerScript =
    name: n:
    let
      p = plans.${name};
      docker = "${config.virtualisation.docker.package}/bin/docker";
      want = lib.concatStringsSep " " [
        "bridge"
        n.bridge
        (if p.mtu == null then "<no value>" else toString p.mtu)
        n.subnet
        n.hostAddress
        (toString (dockerRange n))
      ];
      create = lib.escapeShellArgs (
        [ docker "network" "create" "--driver" "bridge" "--subnet" n.subnet "--gateway" n.hostAddress ]
        ++ [ "--ip-range" (toString (dockerRange n)) "-o" "com.docker.network.bridge.name=${n.bridge}" ]
        ++ lib.optionals (p.mtu != null) [ "-o" "com.docker.network.driver.mtu=${toString p.mtu}" ]
        ++ [ name ]
      );
    in
    pkgs.writeShellScript "hwc-docker-network-${name}" ''
      set -eu
      if ! ${docker} network inspect ${lib.escapeShellArg name} >/dev/null 2>&1; then
        exec ${create}
      fi
      have=$(${docker} network inspect -f '{{.Driver}} {{index .Options "com.docker.network.bridge.name"}} {{index .Options "com.docker.network.driver.mtu"}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}}' ${lib.escapeShellArg name})
      if [ "$have" != ${lib.escapeShellArg want} ]; then
        printf '%s%s%s\n' ${lib.escapeShellArg "docker network ${name} is '"} "$have" ${lib.escapeShellArg "', declared '${want}' (driver, bridge, MTU, subnet, gateway, range): remove it (docker network rm ${name}) to let hwc make it"} >&2
        exit 1
      fi
    '';
  # What the doctor compares with the machine (declared.json's "networks").
  facts = lib.mapAttrs (
    name: n:
    let
      p = plans.${name};
    in
    {
      inherit (n) bridge podman docker;
      address = "${n.hostAddress}/${toString p.block.prefix}";
    }
    // lib.optionalAttrs (n.overlay != null) {
      overlay = {
        inherit (n.overlay) vni port local underlay;
        inherit (p) link peers mtu;
      };
    }
  ) valid;
in
{
  options.hwc.infrastructure.mesh.containerNetworking.networkFacts = mkOption {
    type = types.attrsOf types.anything;
    internal = true;
    readOnly = true;
    description = "What each network is on this machine, for hwc-doctor's declaration.";
  };

  options.hwc.infrastructure.mesh.containerNetworking.networks = mkOption {
    type = types.attrsOf networkType;
    default = { };
    example = lib.literalExpression ''
      {
        media = {
          subnet = "10.77.0.0/24";
          hostAddress = "10.77.0.1";          # .2 on the second machine
          leaseRange = { start = "10.77.0.10"; end = "10.77.0.99"; };   # .100-.189 there
          overlay = {
            vni = 4242;
            underlay = "wg0";
            local = "10.100.0.1";             # this machine on the WireGuard network
            peers = [ "10.100.0.1" "10.100.0.2" ];
            underlayMtu = 1420;
          };
          podman = true;
        };
      }
    '';
    description = "Container networks by name, shared across machines by a VXLAN overlay; each gets the unit hwc-network-NAME.";
  };

  config = lib.mkMerge [
  {
    hwc.infrastructure.mesh.containerNetworking.networkFacts = if cfg.enable then facts else { };
  }
  (lib.mkIf (cfg.enable && networks != { }) {
    assertions =
      lib.concatLists (lib.mapAttrsToList networkAssertions networks)
      ++ lib.mapAttrsToList (vni: names: {
        assertion = false;
        message = "${hwcLib.optionName [ "mesh" "containerNetworking" "networks" ]}: VNI ${vni} is used by ${lib.concatStringsSep " and " names}; each network needs its own.";
      }) (twice vniUsers)
      ++ lib.mapAttrsToList (bridge: names: {
        assertion = false;
        message = "${hwcLib.optionName [ "mesh" "containerNetworking" "networks" ]}: bridge ${bridge} is used by ${lib.concatStringsSep " and " names}.";
      }) (twice bridgeUsers);

    systemd.services =
      lib.mapAttrs' (
        name: n:
        let
          p = plans.${name};
          overlay = n.overlay;
        in
        lib.nameValuePair (unit name) (
          {
            description = "Container network ${name}";
            wantedBy = [ "multi-user.target" ] ++ lib.optional (overlay != null) (device overlay.underlay);
            serviceConfig = hwcLib.hardening [ "CAP_NET_ADMIN" ] // {
              Type = "oneshot";
              RemainAfterExit = true;
              ExecStart = [
                (hwcLib.execLine "${hwc}/bin/hwc-netlink" [
                  "ensure-bridge"
                  n.bridge
                  "${n.hostAddress}/${toString p.block.prefix}"
                ])
              ]
              ++ lib.optional (overlay != null) (
                hwcLib.execLine "${hwc}/bin/hwc-netlink" (
                  [ "ensure-overlay" p.link "--vni" (toString overlay.vni) "--bridge" n.bridge ]
                  ++ [ "--local" overlay.local "--dev" overlay.underlay "--port" (toString overlay.port) ]
                  ++ [ "--mtu" (toString p.mtu) ]
                  ++ lib.concatMap (peer: [ "--peer" peer ]) p.peers
                )
              );
              RestrictAddressFamilies = [ "AF_NETLINK" "AF_UNIX" ];
            }
            // lib.optionalAttrs (overlay != null) {
              # The underlay has carrier before the overlay is made on it.
              ExecStartPre = hwcLib.execLine "${hwc}/bin/hwc-netlink" [
                "wait-online"
                overlay.underlay
                "--timeout"
                "60"
              ];
            };
          }
          // (
            if overlay == null then
              {
                wants = [ "network-pre.target" ];
                after = [ "network-pre.target" ];
                before = [ "network.target" ];
              }
            else
              {
                # After the underlay is online, and again whenever its interface comes back (a
                # WireGuard or Tailscale restart makes it anew, and the overlay on it goes).
                wants = [ "network-online.target" ];
                after = [ "network-online.target" (device overlay.underlay) ];
                bindsTo = [ (device overlay.underlay) ];
              }
          )
        )
      ) valid
      // lib.mapAttrs' (
        name: n:
        lib.nameValuePair "hwc-docker-network-${hwcLib.unitNamePart name}" {
          description = "Docker's view of container network ${name}";
          wantedBy = [ "docker.service" ];
          after = [ "docker.service" "${unit name}.service" ];
          requires = [ "docker.service" ];
          wants = [ "${unit name}.service" ];
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = dockerScript name n;
          };
        }
      ) (lib.filterAttrs (_: n: n.docker && dockerRange n != null) valid);

    environment.etc = lib.mapAttrs' (
      name: n:
      lib.nameValuePair "containers/networks/${name}.json" {
        text = builtins.toJSON (netavark name n);
      }
    ) (lib.filterAttrs (_: n: n.podman) valid);
  })
  ];
}
