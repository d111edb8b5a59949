# The user's background services: authorized keys from a secret (setup-ssh-keys, re-run when the
# secret changes), and the graphical session's environment and secret links (hwc-session-init).
{ config, options, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf mkMerge mkOption types;
  hwcLib = import ../lib.nix { inherit lib; };
  cfg = config.hwc.infrastructure.session.services;
  hwc = config.hwc.infrastructure.session.commands.package;
  user = cfg.username;
  opt = name: hwcLib.optionName [ "session" "services" name ];

  # The defaults setup-ssh-keys reads without being told (see its --help).
  defaultSecret = "/run/agenix/ssh-authorized-keys-${user}";
  secret = if cfg.secret == null then defaultSecret else cfg.secret;
  fallbackFile = "hwc/ssh-authorized-keys/${user}";
  keys = map hwcLib.oneLine cfg.fallbackKeys;
  brokenKeys = lib.filter (k: lib.hasInfix "\n" k || lib.hasInfix "\r" k) keys;
  # agenix (when its module is imported) decrypts into a new generation under its mount point,
  # swaps the secretsDir link to it, deletes the old generation, and chowns after users are made
  # (modules/age.nix). A secret at a path agenix manages is only ever rewritten that way: at
  # activation (its default mode) or by agenix-install-secrets.service (systemd.sysusers,
  # userborn), and both come before the re-run below.
  agenixDirs = lib.optionals (config ? age) [
    config.age.secretsDir
    config.age.secretsMountPoint
  ];
  byAgenix =
    lib.any (s: (s.path or null) == secret) (lib.attrValues (config.age.secrets or { }))
    || lib.any (dir: lib.hasPrefix "${toString dir}/" secret) agenixDirs;

  sshUnit = "setup-ssh-keys-${user}";
  sessionArgs = lib.concatLists (
    lib.mapAttrsToList (name: path: [ "--secret" "${name}=${path}" ]) cfg.sessionSecrets
  );
in
{
  options.hwc.infrastructure.session.services = {
    enable = mkEnableOption "the user's background services: SSH authorized keys from a secret, and the graphical session's environment";

    username = mkOption {
      type = types.nullOr types.str;
      default = hwcLib.systemUserName options;
      defaultText = lib.literalExpression "config.hwc.system.users.user.name (when that option exists)";
      example = "eric";
      description = "The user whose keys are installed and whose session is set up.";
    };

    sshKeys.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Install the user's authorized keys from `secret` at boot, before sshd, and again whenever the secret changes.";
    };

    secret = mkOption {
      type = types.nullOr hwcLib.systemdPath;
      default = null;
      example = lib.literalExpression "config.age.secrets.ssh-keys-eric.path";
      description = "The decrypted secret holding the authorized keys (default: /run/agenix/ssh-authorized-keys-USER). A path string, never copied to the Nix store.";
    };

    fallbackKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = lib.literalExpression "[ (builtins.readFile ./eric.pub) ]";
      description = "Public key lines installed when the secret yields no valid key (so the owner can still log in). One key per entry; one trailing line break is dropped. Written to /etc/hwc/ssh-authorized-keys/USER, never put on a command line.";
    };

    sessionInit.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Run hwc-session-init at graphical login: session variables and GPU facts into the D-Bus and systemd user environments, XDG directories.";
    };

    sessionSecrets = mkOption {
      type = types.attrsOf (types.strMatching "/.+");
      default = { };
      example = {
        github-token = "/run/agenix/github-token";
      };
      description = "Secrets linked for the session as $XDG_RUNTIME_DIR/hwc/secrets/NAME (hwc-session-init --secret NAME=PATH).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = hwcLib.userAssertions config (opt "username") user "hwc.system.users.user.name" ++ [
        {
          assertion = brokenKeys == [ ];
          message = "${opt "fallbackKeys"}: an entry holds a line break inside a key; give one key per entry.";
        }
        {
          assertion = lib.all (n: builtins.match "[A-Za-z0-9._-]+" n != null) (lib.attrNames cfg.sessionSecrets);
          message = "${opt "sessionSecrets"}: names are file names (letters, digits, '.', '_', '-').";
        }
      ];
    }

    (mkIf (cfg.sshKeys.enable && user != null) {
      environment.etc.${fallbackFile} = mkIf (keys != [ ]) {
        text = lib.concatMapStrings (k: k + "\n") keys;
        mode = "0644";
      };

      systemd.services.${sshUnit} = {
        description = "Install SSH authorized keys for ${user}";
        wantedBy = [ "multi-user.target" ];
        # agenix decrypts during activation; its unit exists only with sysusers/userborn, so a
        # Wants that blocks nothing when it is absent.
        wants = [ "agenix-install-secrets.service" ];
        after = [ "agenix-install-secrets.service" "local-fs.target" "remote-fs.target" ];
        before = [ "sshd.service" ];
        # How the keys follow a changed secret at nixos-rebuild switch: switch-to-configuration
        # compares only the units that are active, and this oneshot is inactive once it has run
        # (no RemainAfterExit), so it is never "changed" and needs no restartTriggers. Instead,
        # switch starts every active target again, after the activation (where agenix decrypts)
        # and after restarting changed units (agenix-install-secrets.service among them), and
        # multi-user.target starts this unit again: every switch re-applies the keys, which
        # writes nothing when they are unchanged.
        serviceConfig = hwcLib.hardening [
          "CAP_SETUID"
          "CAP_SETGID"
          "CAP_DAC_READ_SEARCH"
          "CAP_KILL"
        ] // {
          # Not RemainAfterExit: the switch's target start (above) and the path unit (below)
          # start it again.
          Type = "oneshot";
          ExecStart = hwcLib.execLine "${hwc}/bin/setup-ssh-keys" (
            [ user ] ++ lib.optionals (cfg.secret != null) [ "--secret" cfg.secret ]
          );
          # The work in the home has its own 30 s deadline; this bounds the whole run.
          TimeoutStartSec = 60;
          # It writes in the user's home, as the user, after dropping root.
          ProtectSystem = "full";
          ProtectHome = false;
          PrivateNetwork = true;
          PrivateDevices = true;
          RestrictAddressFamilies = [ "AF_UNIX" ];
          IPAddressDeny = "any";
        };
      };

      # A secret rewritten in place by something other than agenix re-runs it too. Not for a
      # secret agenix manages: a watch there fires at agenix's link swap, before the chown, and
      # again when the old generation is deleted, racing the switch's own re-run; agenix only
      # rewrites at activation, which the switch's re-run follows.
      systemd.paths.${sshUnit} = mkIf (!byAgenix) {
        description = "Re-install ${user}'s SSH keys when the secret changes";
        wantedBy = [ "multi-user.target" ];
        pathConfig = {
          PathChanged = secret;
          Unit = "${sshUnit}.service";
        };
      };
    })

    (mkIf cfg.sessionInit.enable {
      systemd.user.services.hwc-session-init = {
        description = "hwc session plumbing (environment import, XDG directories, GPU variables)";
        wantedBy = [ "graphical-session-pre.target" ];
        partOf = [ "graphical-session.target" ];
        after = [ "graphical-session-pre.target" ];
        before = [ "graphical-session.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = hwcLib.execLine "${hwc}/bin/hwc-session-init" sessionArgs;
          ExecStop = hwcLib.execLine "${hwc}/bin/hwc-session-init" [ "--stop" ];
          Slice = "session.slice";
        };
      };
    })
  ]);
}
