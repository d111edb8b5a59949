# The static hwc binary and its applet links. The repository's .cargo/config.toml asks for a
# static-pie glibc build (+crt-static, packed relative relocations), which needs glibc's static
# archives. RUSTFLAGS is left unset on purpose: it would replace those flags, not add to them.
{ lib, rustPlatform, glibc }:

rustPlatform.buildRustPackage {
  pname = "hwc";
  version = "0.1.0";

  src = lib.cleanSourceWith {
    src = ../..;
    filter = path: type:
      let base = baseNameOf path; in
      !(type == "directory" && (base == "target" || base == ".git"));
  };
  cargoLock.lockFile = ../../Cargo.lock;

  buildInputs = [ glibc.static ];

  # The integration tests need root, network namespaces, sshd and dbus-daemon.
  doCheck = false;

  postInstall = ''
    $out/bin/hwc --install -s $out/bin
    mkdir -p $out/lib/systemd/system $out/lib/systemd/user
    for unit in setup-ssh-keys@.service hwc-bridge@.service; do
      substitute install/systemd/$unit $out/lib/systemd/system/$unit --replace-fail @BINDIR@ $out/bin
    done
    substitute install/systemd/hwc-session-init.service $out/lib/systemd/user/hwc-session-init.service \
      --replace-fail @BINDIR@ $out/bin
  '';

  meta = {
    description = "Static multicall binary wiring a NixOS machine's hardware and services together";
    license = with lib.licenses; [ mit asl20 ];
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
    mainProgram = "hwc";
  };
}
