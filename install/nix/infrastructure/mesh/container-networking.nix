# Container networking: bridges kept by `hwc-netlink ensure-bridge` at boot (created if missing,
# brought up, addresses added; running it again changes nothing). Names and addresses are checked
# at evaluation, as the kernel and hwc-netlink would check them at boot.
{ config, lib, ... }:

let
  inherit (lib) mkEnableOption mkIf mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  cfg = config.hwc.infrastructure.mesh.containerNetworking;
  hwc = config.hwc.infrastructure.session.commands.package;
  opt = hwcLib.optionName [ "mesh" "containerNetworking" "bridges" ];
  badNames = lib.filter (n: !hwcLib.isIfName n) (lib.attrNames cfg.bridges);
  unitName = name: "hwc-bridge-${hwcLib.unitNamePart name}";
in
{
  options.hwc.infrastructure.mesh.containerNetworking = {
    enable = mkEnableOption "container bridges kept by hwc-netlink ensure-bridge";

    bridges = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            addresses = mkOption {
              type = types.listOf hwcLib.cidr;
              default = [ ];
              example = [ "10.88.0.1/16" ];
              description = "Addresses of the bridge, as CIDR.";
            };
            mtu = mkOption {
              type = types.nullOr (types.ints.between 68 65535);
              default = null;
              description = "The bridge's MTU when it is created.";
            };
          };
        }
      );
      default = { };
      example = {
        br-lab.addresses = [ "10.89.0.1/24" "fd00:89::1/64" ];
      };
      description = "Bridges by interface name (1-15 printable ASCII bytes, no '/', ':' or spaces); each gets the unit hwc-bridge-NAME (NAME escaped as systemd-escape does).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = badNames == [ ];
        message = "${opt}: ${lib.concatMapStringsSep ", " (n: "'${n}'") badNames} cannot be an interface name (1-15 printable ASCII bytes, no '/', ':' or spaces).";
      }
    ];

    systemd.services = lib.mapAttrs' (
      name: bridge:
      lib.nameValuePair (unitName name) {
        description = "Container bridge ${name}";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-pre.target" ];
        after = [ "network-pre.target" ];
        before = [ "network.target" ];
        serviceConfig = hwcLib.hardening [ "CAP_NET_ADMIN" ] // {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = hwcLib.execLine "${hwc}/bin/hwc-netlink" (
            [ "ensure-bridge" name ]
            ++ bridge.addresses
            ++ lib.optionals (bridge.mtu != null) [ "--mtu" (toString bridge.mtu) ]
          );
          RestrictAddressFamilies = [ "AF_NETLINK" "AF_UNIX" ];
        };
      }
    ) (lib.filterAttrs (name: _: hwcLib.isIfName name) cfg.bridges);
  };
}
