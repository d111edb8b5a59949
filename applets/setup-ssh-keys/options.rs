//! The options field of an authorized_keys line, checked as sshd checks it (`sshauthopt_parse`
//! in auth-options.c, OpenSSH 9.2), and the checks sshd makes later, at login, that refuse every
//! login through the line whatever the client (`auth_authorise_keyopts`): a `from=` list it
//! cannot read, `principals=` on a plain key, an expiry time already past. A line that fails any
//! of these can never let its key in, so it never counts as a valid key.
//!
//! Grammar: comma-separated options up to the first space or tab outside a quoted value; flag
//! names case-insensitive, optionally `no-` prefixed; `name="value"` with `\"` the only escape;
//! empty options (`,,`) allowed; `command`, `from` and `principals` at most once.

/// What the options say, as far as the rest of the checks need.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub cert_authority: bool,
    principals: bool,
    from: Option<String>,
    /// The earliest `expiry-time`, in seconds since 1970 (UTC).
    expiry: Option<i64>,
}

/// Flags, each allowed with a `no-` prefix but the first two.
const FLAGS: &[(&str, bool)] = &[
    ("restrict", false),
    ("cert-authority", false),
    ("port-forwarding", true),
    ("agent-forwarding", true),
    ("x11-forwarding", true),
    ("touch-required", true),
    ("verify-required", true),
    ("pty", true),
    ("user-rc", true),
];

const VALUED: &[&str] = &[
    "command",
    "principals",
    "from",
    "expiry-time",
    "environment",
    "permitopen",
    "permitlisten",
    "tunnel",
];

/// Parses the options at the start of `line` (the key follows them). `Err` carries sshd's reason.
pub fn parse(line: &str) -> Result<Options, String> {
    let bytes = line.as_bytes();
    let mut opts = Options::default();
    let mut seen_once: Vec<&str> = Vec::new();
    let mut counts = Counts::default();
    let mut at = 0;
    while at < bytes.len() && !matches!(bytes[at], b' ' | b'\t') {
        let rest = &line[at..];
        let token_end = rest.find([',', ' ', '\t', '=']).unwrap_or(rest.len());
        let word = &rest[..token_end];
        let lower = word.to_ascii_lowercase();
        if rest[token_end..].starts_with('=') {
            let name = VALUED
                .iter()
                .find(|n| **n == lower)
                .ok_or_else(|| format!("unknown key option '{word}'"))?;
            let (value, used) = dequote(&rest[token_end + 1..])?;
            if matches!(*name, "command" | "from" | "principals") {
                if seen_once.contains(name) {
                    return Err(format!("more than one {name}= option"));
                }
                seen_once.push(name);
            }
            check_value(name, &value, &mut opts)?;
            counts.add(name, &value)?;
            at += token_end + 1 + used;
        } else {
            let known = word.is_empty()
                || FLAGS.iter().any(|&(flag, negatable)| {
                    lower == flag || negatable && lower.strip_prefix("no-") == Some(flag)
                });
            if !known {
                return Err(format!("unknown key option '{word}'"));
            }
            opts.cert_authority |= lower == "cert-authority";
            at += token_end;
        }
        match bytes.get(at) {
            None | Some(b' ' | b'\t') => break,
            Some(b',') => at += 1,
            Some(_) => {
                let shown: String = line[at..].chars().take(20).collect();
                return Err(format!("unknown key option at '{shown}'"));
            }
        }
    }
    Ok(opts)
}

/// sshd's limits on repeated options: 1024 environment names (more than that already held is
/// an error: the 1026th distinct name), 4096 entries of permitopen and of permitlisten each.
#[derive(Default)]
struct Counts {
    env_names: std::collections::HashSet<String>,
    permitopen: usize,
    permitlisten: usize,
}

impl Counts {
    fn add(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "environment" => {
                let var = value.split_once('=').map_or(value, |(n, _)| n);
                if !self.env_names.contains(var) {
                    if self.env_names.len() > 1024 {
                        return Err("too many environment options (sshd takes 1025 names)".into());
                    }
                    self.env_names.insert(var.to_string());
                }
            }
            "permitopen" | "permitlisten" => {
                let n = if name == "permitopen" {
                    &mut self.permitopen
                } else {
                    &mut self.permitlisten
                };
                if *n > 4096 {
                    return Err(format!("too many {name} options (sshd takes 4097)"));
                }
                *n += 1;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A double-quoted value and how many bytes it took with its quotes. Only `\"` is an escape;
/// any other backslash stands for itself.
fn dequote(text: &str) -> Result<(String, usize), String> {
    let inner = text
        .strip_prefix('"')
        .ok_or("key option value needs double quotes")?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, i + 2)),
            '\\' if inner[i + 1..].starts_with('"') => {
                chars.next();
                value.push('"');
            }
            c => value.push(c),
        }
    }
    Err("missing end quote in key option value".into())
}

fn check_value(name: &str, value: &str, opts: &mut Options) -> Result<(), String> {
    match name {
        "command" => {}
        "principals" => opts.principals = true,
        "from" => opts.from = Some(value.to_string()),
        "expiry-time" => {
            let t = expiry_time(value)
                .ok_or_else(|| format!("invalid expiry-time '{value}' (YYYYMMDD[HHMM[SS]][Z])"))?;
            opts.expiry = Some(opts.expiry.map_or(t, |e| e.min(t)));
        }
        "environment" => {
            let valid = value.split_once('=').is_some_and(|(n, _)| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            if !valid {
                return Err(format!(
                    "invalid environment '{value}' (NAME=value, NAME of letters, digits and _)"
                ));
            }
        }
        "permitopen" => permission(value, false)?,
        "permitlisten" => permission(value, true)?,
        "tunnel" => {
            let any = value.eq_ignore_ascii_case("any");
            if !any && c_number(value).is_none_or(|n| !(0..=0x7fff_fffd).contains(&n)) {
                return Err(format!("invalid tunnel '{value}' (a device number or any)"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// A decimal number as `strtoll` reads a whole string: leading white space, an optional sign.
fn c_number(text: &str) -> Option<i64> {
    let t = text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let digits = t.strip_prefix('+').unwrap_or(t);
    let (negative, digits) = match digits.strip_prefix('-') {
        Some(d) if !t.starts_with('+') => (true, d),
        _ => (false, digits),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    Some(if negative { -n } else { n })
}

/// `permitopen="host:port"`, `permitlisten="[host:]port"` (`handle_permit`, `hpdelim2`): a
/// host (`[v6]` in brackets), `:` or `/`, and a port from 1 to 65535 or `*`. Service names,
/// which sshd looks up in /etc/services, are refused here.
fn permission(value: &str, listen: bool) -> Result<(), String> {
    let value = if listen && !value.contains(':') {
        format!("*:{value}")
    } else {
        value.to_string()
    };
    let bad_host = || format!("invalid host in '{value}'");
    let (host, port) = if let Some(v6) = value.strip_prefix('[') {
        let close = v6.find(']').ok_or_else(bad_host)?;
        let after = &v6[close + 1..];
        match after.chars().next() {
            Some(':' | '/') => (&v6[..close], Some(&after[1..])),
            None => (&v6[..close], None),
            Some(_) => return Err(bad_host()),
        }
    } else {
        match value.find([':', '/']) {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value.as_str(), None),
        }
    };
    if host.len() >= 1025 {
        return Err(bad_host());
    }
    let port_ok =
        port.is_some_and(|p| p == "*" || c_number(p).is_some_and(|n| (1..=65535).contains(&n)));
    if !port_ok {
        return Err(format!("invalid port in '{value}' (1-65535 or *)"));
    }
    Ok(())
}

/// The furthest ahead of UTC a local time zone runs (Line Islands, UTC+14).
const MAX_UTC_OFFSET: i64 = 14 * 3600;

/// `parse_absolute_time`: YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with `Z` or `UTC` for UTC,
/// otherwise in sshd's local time zone, which hwc does not read: that time is taken at its
/// earliest (UTC+14), so a key is never counted valid when sshd may already refuse it. Seconds
/// since 1970.
fn expiry_time(text: &str) -> Option<i64> {
    let (digits, local) = if text.len() > 1 && text.ends_with(['Z', 'z']) {
        (&text[..text.len() - 1], false)
    } else if text.len() > 3 && text[text.len() - 3..].eq_ignore_ascii_case("utc") {
        (&text[..text.len() - 3], false)
    } else {
        (text, true)
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.is_ascii() {
        return None;
    }
    // Each field as strptime reads it: blanks first, then at least one digit, in range.
    let field = |from: usize, to: usize, min: i64, max: i64| -> Option<i64> {
        let f = digits[from..to].trim_start_matches([' ', '\t']);
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: i64 = f.parse().ok()?;
        (min..=max).contains(&v).then_some(v)
    };
    let year = field(0, 4, 0, 9999)?;
    let month = field(4, 6, 1, 12)?;
    let day = field(6, 8, 1, 31)?;
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (field(8, 10, 0, 23)?, field(10, 12, 0, 59)?, 0),
        _ => (
            field(8, 10, 0, 23)?,
            field(10, 12, 0, 59)?,
            field(12, 14, 0, 61)?,
        ),
    };
    // Days past the end of a month roll over (20270231 is 3 March), as mktime normalises.
    let t = days_from_civil(year, month) * 86400
        + (day - 1) * 86400
        + hour * 3600
        + minute * 60
        + second;
    (t > 0).then_some(if local { t - MAX_UTC_OFFSET } else { t })
}

/// Days from 1970-01-01 to the first of `month` of `year` (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The checks sshd makes when the line's key logs in: a reason every login through the line
/// is refused, or `None`. `now` is seconds since 1970.
pub fn refused_at_login(opts: &Options, now: i64) -> Option<String> {
    if opts.principals && !opts.cert_authority {
        return Some("principals= is only valid with cert-authority; sshd refuses the key".into());
    }
    if let Some(t) = opts.expiry.filter(|&t| t <= now) {
        return Some(format!(
            "expired (expiry-time {}); sshd refuses the key",
            date_text(t)
        ));
    }
    if let Some(from) = &opts.from {
        if let Some(why) = unreadable_from(from) {
            return Some(format!(
                "from=\"{from}\": {why}; sshd refuses every login with it"
            ));
        }
    }
    None
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn date_text(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Why sshd cannot read a `from=` list (`addr_match_list` returning an error): an empty entry,
/// or an address with a prefix longer than its family allows or with host bits set.
fn unreadable_from(list: &str) -> Option<String> {
    for entry in list.split(',') {
        let entry = entry.strip_prefix('!').unwrap_or(entry);
        if entry.is_empty() {
            return Some("an empty entry".into());
        }
        if entry.len() >= 64 {
            continue;
        }
        let (addr, len) = match entry.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (entry, None),
        };
        let Some(ip) = numeric_host(addr) else {
            continue; // a host name pattern
        };
        let Some(len) = len else { continue };
        let Some(len) = len.parse::<u32>().ok().filter(|l| *l <= 128) else {
            continue; // sshd then matches the entry as a pattern
        };
        let (bits, max) = match ip {
            std::net::IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
            std::net::IpAddr::V6(a) => (u128::from(a), 128),
        };
        if len > max {
            return Some(format!("'{entry}' has a prefix longer than {max}"));
        }
        let host_bits = bits.checked_shl(len).unwrap_or(0);
        if host_bits != 0 {
            return Some(format!("'{entry}' has host bits set"));
        }
    }
    None
}

/// An address as `getaddrinfo(AI_NUMERICHOST)` reads it, which is what sshd uses: IPv4 in any
/// form `inet_aton` takes (`127.1`, `10`, octal `010.0.0.1`, hex `0x7f.0.0.1`), IPv6 with or
/// without a `%scope`.
fn numeric_host(text: &str) -> Option<std::net::IpAddr> {
    if text.contains(':') {
        let addr = text.split_once('%').map_or(text, |(a, _)| a);
        return addr.parse::<std::net::Ipv6Addr>().ok().map(Into::into);
    }
    let parts: Vec<u64> = text
        .split('.')
        .map(|p| {
            let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or(p.strip_prefix("0X")) {
                (h, 16)
            } else if p.len() > 1 && p.starts_with('0') {
                (&p[1..], 8)
            } else {
                (p, 10)
            };
            if digits.is_empty() && radix != 8 {
                return None;
            }
            if digits.is_empty() {
                return Some(0);
            }
            u64::from_str_radix(digits, radix).ok()
        })
        .collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if parts.len() > 4 || head.iter().any(|&p| p > 255) {
        return None;
    }
    let last_bits = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let value = head
        .iter()
        .enumerate()
        .fold(*last, |acc, (i, &p)| acc | p << (24 - 8 * i as u32));
    Some(std::net::Ipv4Addr::from(value as u32).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(options: &str) -> Options {
        parse(&format!("{options} ssh-ed25519 AAAA")).unwrap_or_else(|e| panic!("{options}: {e}"))
    }

    fn bad(options: &str) -> String {
        match parse(&format!("{options} ssh-ed25519 AAAA")) {
            Err(e) => e,
            Ok(o) => panic!("{options} parsed: {o:?}"),
        }
    }

    #[test]
    fn flags_exact_case_insensitive_and_negatable() {
        for o in [
            "restrict",
            "NO-PTY",
            "no-X11-forwarding,pty",
            "cert-authority",
            "no-touch-required",
            "verify-required",
            ",no-pty",
            "no-pty,",
            "no-pty,,pty",
            ",",
        ] {
            ok(o);
        }
        for o in [
            "no-ptyx",
            "restrictx",
            "pty=\"x\"",
            "no-restrict",
            "permit-pty",
            "foo",
        ] {
            assert!(bad(o).contains("unknown key option"), "{o}");
        }
        assert!(ok("cert-authority").cert_authority);
    }

    #[test]
    fn values_dequote_and_are_checked() {
        ok(r#"command="echo \"a, b\" c",no-pty"#);
        ok(r#"command="",environment="A=",environment="_1x=a b""#);
        ok(r#"command="a\b""#);
        assert!(
            bad(r#"command="a\\""#).contains("missing end quote")
                || bad(r#"command="a\\""#).contains("unknown")
        );
        assert!(bad("command=ls").contains("double quotes"));
        assert!(bad(r#"command="a"b"#).contains("unknown key option"));
        assert!(bad(r#"command="a",command="b""#).contains("more than one command"));
        for env in ["A-B=1", "=1", "A", "", "A B=c"] {
            assert!(
                bad(&format!("environment=\"{env}\"")).contains("invalid environment"),
                "{env}"
            );
        }
        for t in ["any", "ANY", "0", "2147483645", " 7", "+7"] {
            ok(&format!("tunnel=\"{t}\""));
        }
        for t in ["abc", "2147483646", "-1", "", "1:2"] {
            assert!(
                bad(&format!("tunnel=\"{t}\"")).contains("invalid tunnel"),
                "{t}"
            );
        }
    }

    #[test]
    fn permissions_as_hpdelim2_reads_them() {
        for v in [
            "host:22", "host:*", "*:*", "[::1]:22", "host/22", "[::1]/22", ":22", "h: 22", "h:+22",
        ] {
            ok(&format!("permitopen=\"{v}\""));
        }
        for v in [
            "foo",
            "::1:22",
            "x:y:z",
            "host:0x16",
            "host:*x",
            "h:22,h2:23",
            "host:0",
            "host:65536",
            "[::1]22",
            "[::1",
            "host:ssh",
        ] {
            assert!(
                bad(&format!("permitopen=\"{v}\"")).contains("invalid"),
                "{v}"
            );
        }
        for v in ["22", "*", "localhost:*", "[::1]:22"] {
            ok(&format!("permitlisten=\"{v}\""));
        }
        for v in ["0", "x:y:z", "host/22"] {
            assert!(
                bad(&format!("permitlisten=\"{v}\"")).contains("invalid"),
                "{v}"
            );
        }
    }

    #[test]
    fn expiry_times_as_strptime_reads_them() {
        assert_eq!(expiry_time("19700102Z"), Some(86400));
        assert_eq!(
            expiry_time("19700102"),
            Some(86400 - 14 * 3600),
            "local: its earliest"
        );
        assert_eq!(expiry_time("20270101Z"), expiry_time("202701010000Z"));
        assert_eq!(
            expiry_time("20270231"),
            expiry_time("20270303"),
            "rolls over"
        );
        assert!(expiry_time("2027 1 1").is_some());
        assert_eq!(expiry_time("20271231235959UTC"), Some(1_830_297_599));
        assert_eq!(numeric_host("127.1"), "127.0.0.1".parse().ok());
        assert_eq!(numeric_host("10"), "0.0.0.10".parse().ok());
        assert_eq!(numeric_host("010.0.0.1"), "8.0.0.1".parse().ok());
        assert_eq!(numeric_host("0x7f.1"), "127.0.0.1".parse().ok());
        assert_eq!(numeric_host("fe80::1%lo"), "fe80::1".parse().ok());
        assert_eq!(numeric_host("256.1.1.1"), None);
        assert_eq!(numeric_host("host.example"), None);
        for t in [
            "20271399",
            "2027",
            "2027010100",
            "20270101 Z",
            "19700101Z",
            "+0270101",
            "20270132",
        ] {
            assert_eq!(expiry_time(t), None, "{t}");
        }
        assert_eq!(date_text(1_830_297_599), "2027-12-31 23:59:59 UTC");
        let o = ok(r#"expiry-time="20300101",expiry-time="20290101""#);
        assert_eq!(o.expiry, expiry_time("20290101"), "the earliest wins");
    }

    #[test]
    fn repeated_options_have_sshds_limits() {
        let env = |n: usize| {
            (0..n)
                .map(|i| format!("environment=\"V{i}=x\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        ok(&env(1025));
        assert!(bad(&env(1026)).contains("too many environment"));
        ok(&format!("{},environment=\"V0=again\"", env(1025)));
        let permits = |n: usize, what: &str| {
            (0..n)
                .map(|i| format!("{what}=\"h:{}\"", i % 60000 + 1))
                .collect::<Vec<_>>()
                .join(",")
        };
        ok(&permits(4097, "permitopen"));
        assert!(bad(&permits(4098, "permitopen")).contains("too many permitopen"));
        ok(&format!(
            "{},{}",
            permits(4097, "permitopen"),
            permits(4097, "permitlisten")
        ));
    }

    #[test]
    fn login_time_refusals() {
        let now = expiry_time("20261130").unwrap();
        assert!(refused_at_login(&ok(r#"expiry-time="20260101""#), now)
            .unwrap()
            .contains("expired"));
        assert!(refused_at_login(&ok(r#"expiry-time="20990101""#), now).is_none());
        assert!(refused_at_login(&ok(r#"principals="a""#), now)
            .unwrap()
            .contains("cert-authority"));
        assert!(refused_at_login(&ok(r#"cert-authority,principals="a""#), now).is_none());
        for from in [
            "127.0.0.1",
            "10.0.0.0/8",
            "*.example.com,!bad",
            "::1/128",
            "10.0.0.0/200",
            "2001:db8::/32",
        ] {
            assert!(
                refused_at_login(&ok(&format!("from=\"{from}\"")), now).is_none(),
                "{from}"
            );
        }
        for from in [
            "",
            "a,,b",
            "a,",
            "!",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "::1/64",
            "127.1/8",
            "10/8",
            "010.0.0.1/8",
            "fe80::1%lo/64",
        ] {
            assert!(
                refused_at_login(&ok(&format!("from=\"{from}\"")), now).is_some(),
                "{from}"
            );
        }
    }
}
