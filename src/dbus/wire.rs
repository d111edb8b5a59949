//! The D-Bus wire format, as far as hwc speaks it: method calls whose bodies are `a{ss}`, `as`
//! or `s` (little-endian out), and incoming messages in either byte order, parsed into a reply
//! (a method return with its body, read by [`Values`], or an error with its name and message).
//! Pure functions of bytes: no socket here ([`crate::client`] has it).

const METHOD_CALL: u8 = 1;
pub(crate) const METHOD_RETURN: u8 = 2;
pub(crate) const ERROR: u8 = 3;
const FIELD_PATH: u8 = 1;
const FIELD_INTERFACE: u8 = 2;
const FIELD_MEMBER: u8 = 3;
const FIELD_ERROR_NAME: u8 = 4;
const FIELD_REPLY_SERIAL: u8 = 5;
const FIELD_DESTINATION: u8 = 6;
const FIELD_SIGNATURE: u8 = 8;
/// The largest message read. The spec allows 128 MiB, but what reaches this client (replies to
/// its calls, NameAcquired) is small; a bus sending more is not answering.
const MAX_MESSAGE: usize = 1 << 20;

fn pad(buf: &mut Vec<u8>, to: usize) {
    while !buf.len().is_multiple_of(to) {
        buf.push(0);
    }
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    pad(buf, 4);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    put_u32(buf, s.len() as u32);
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

fn put_signature(buf: &mut Vec<u8>, s: &str) {
    buf.push(s.len() as u8);
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// Body `a{ss}`. Offsets count from the body start, which is 8-aligned in the message.
pub fn body_dict(pairs: &[(String, String)]) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, 0);
    pad(&mut b, 8);
    let start = b.len();
    for (k, v) in pairs {
        pad(&mut b, 8);
        put_string(&mut b, k);
        put_string(&mut b, v);
    }
    let n = (b.len() - start) as u32;
    b[0..4].copy_from_slice(&n.to_le_bytes());
    b
}

/// Body `as`.
/// Body `s...`: each argument a string (signature as many `s`).
pub fn body_args(items: &[&str]) -> Vec<u8> {
    let mut b = Vec::new();
    for item in items {
        put_string(&mut b, item);
    }
    b
}

pub fn body_strings(items: &[String]) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, 0);
    let start = b.len();
    for s in items {
        put_string(&mut b, s);
    }
    let n = (b.len() - start) as u32;
    b[0..4].copy_from_slice(&n.to_le_bytes());
    b
}

/// A method call. `signature` describes `body` ("" for none).
pub struct Call<'a> {
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
    pub destination: &'a str,
    pub signature: &'a str,
    pub body: Vec<u8>,
}

impl Call<'_> {
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut m = vec![b'l', METHOD_CALL, 0, 1];
        m.extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        m.extend_from_slice(&serial.to_le_bytes());
        m.extend_from_slice(&[0; 4]);
        let fields_start = m.len();
        let field = |m: &mut Vec<u8>, code: u8, sig: &str, value: &dyn Fn(&mut Vec<u8>)| {
            pad(m, 8);
            m.push(code);
            put_signature(m, sig);
            value(m);
        };
        field(&mut m, FIELD_PATH, "o", &|m| put_string(m, self.path));
        field(&mut m, FIELD_DESTINATION, "s", &|m| {
            put_string(m, self.destination)
        });
        field(&mut m, FIELD_INTERFACE, "s", &|m| {
            put_string(m, self.interface)
        });
        field(&mut m, FIELD_MEMBER, "s", &|m| put_string(m, self.member));
        if !self.signature.is_empty() {
            field(&mut m, FIELD_SIGNATURE, "g", &|m| {
                put_signature(m, self.signature)
            });
        }
        let fields_len = (m.len() - fields_start) as u32;
        m[12..16].copy_from_slice(&fields_len.to_le_bytes());
        pad(&mut m, 8);
        m.extend_from_slice(&self.body);
        m
    }
}

pub fn hello() -> Call<'static> {
    Call {
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member: "Hello",
        destination: "org.freedesktop.DBus",
        signature: "",
        body: Vec::new(),
    }
}

/// A reply to one of our calls.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Return(Body),
    Error { name: String, message: String },
}

/// A message body: its signature, byte order and bytes (starting 8-aligned).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Body {
    pub signature: String,
    pub big: bool,
    pub bytes: Vec<u8>,
}

impl Body {
    /// A reader of its values, in the order of the signature.
    pub fn values(&self) -> Values<'_> {
        Values {
            body: self,
            at: 0,
            sig: self.signature.as_bytes(),
        }
    }
}

/// Reads the values of a body one after another; each method checks the next signature code
/// and bounds, so a malformed reply is an `Err`, never a panic.
pub struct Values<'a> {
    body: &'a Body,
    at: usize,
    sig: &'a [u8],
}

impl Values<'_> {
    fn u32(&mut self) -> Result<u32, String> {
        self.at = self.at.div_ceil(4) * 4;
        let b: [u8; 4] = self
            .body
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or("short reply body")?;
        self.at += 4;
        Ok(if self.body.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn text(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        let s = self
            .body
            .bytes
            .get(self.at..self.at + len)
            .ok_or("short string in reply body")?;
        self.at += len + 1;
        Ok(String::from_utf8_lossy(s).into_owned())
    }

    fn expect(&mut self, code: &[u8]) -> Result<(), String> {
        match self.sig.strip_prefix(code) {
            Some(rest) => {
                self.sig = rest;
                Ok(())
            }
            None => Err(format!(
                "reply holds '{}', not '{}'",
                String::from_utf8_lossy(self.sig),
                String::from_utf8_lossy(code)
            )),
        }
    }

    /// The next value, a string or an object path.
    pub fn string(&mut self) -> Result<String, String> {
        match self.sig.first() {
            Some(b'o') => self.expect(b"o")?,
            _ => self.expect(b"s")?,
        }
        self.text()
    }

    /// The next value, an array of strings (`as`).
    pub fn strings(&mut self) -> Result<Vec<String>, String> {
        self.expect(b"as")?;
        let len = self.u32()? as usize;
        let end = self.at.checked_add(len).ok_or("bad array length")?;
        if end > self.body.bytes.len() {
            return Err("array past the end of the reply body".into());
        }
        let mut out = Vec::new();
        while self.at < end {
            out.push(self.text()?);
        }
        Ok(out)
    }

    /// Opens the next value, a variant: what follows is read as the value it holds.
    pub fn variant(&mut self) -> Result<(), String> {
        self.expect(b"v")?;
        let len = *self.body.bytes.get(self.at).ok_or("short variant")? as usize;
        let inner = self
            .body
            .bytes
            .get(self.at + 1..self.at + 1 + len)
            .ok_or("short variant signature")?;
        self.at += len + 2;
        // The variant's own signature stands in for the rest of the outer one (a variant is
        // read last here: Properties.Get returns one value).
        let inner: &[u8] = inner;
        self.sig = match inner {
            b"s" => b"s",
            b"o" => b"o",
            b"as" => b"as",
            b"b" => b"b",
            b"u" => b"u",
            other => {
                return Err(format!(
                    "variant holds '{}'",
                    String::from_utf8_lossy(other)
                ))
            }
        };
        Ok(())
    }
}

/// A parsed incoming message: its type, the serial it replies to, for errors the name and
/// first string of the body, and the body itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Incoming {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub message: Option<String>,
    pub body: Body,
}

/// Total length of the message whose fixed 16-byte header is `h`.
pub fn message_len(h: &[u8; 16]) -> Result<usize, String> {
    let big = match h[0] {
        b'l' => false,
        b'B' => true,
        other => return Err(format!("bad endianness byte {other:#x}")),
    };
    let u = |i: usize| {
        let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
        (if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }) as usize
    };
    let (body, fields) = (u(4), u(12));
    let total = (16 + fields).div_ceil(8) * 8 + body;
    if total > MAX_MESSAGE {
        return Err(format!("message of {total} bytes is over the limit"));
    }
    Ok(total)
}

/// Reads a whole message's header fields; never panics on bad input.
pub fn parse(msg: &[u8]) -> Result<Incoming, String> {
    if msg.len() < 16 {
        return Err("short message".into());
    }
    let big = msg[0] == b'B';
    let u32_at = |i: usize| -> Option<u32> {
        let b: [u8; 4] = msg.get(i..i + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let fields_len = u32_at(12).ok_or("short header")? as usize;
    let fields_end = 16usize
        .checked_add(fields_len)
        .filter(|&e| e <= msg.len())
        .ok_or("header fields past the end")?;
    let body_start = fields_end.div_ceil(8) * 8;
    let mut out = Incoming {
        kind: msg[1],
        reply_serial: None,
        error_name: None,
        message: None,
        body: Body::default(),
    };
    let string_at = |i: usize| -> Option<(String, usize)> {
        let i = i.div_ceil(4) * 4;
        let len = u32_at(i)? as usize;
        let s = msg.get(i + 4..i + 4 + len)?;
        Some((String::from_utf8_lossy(s).into_owned(), i + 4 + len + 1))
    };
    let mut at = 16;
    let mut body_sig = String::new();
    while at < fields_end {
        at = at.div_ceil(8) * 8;
        if at >= fields_end {
            break;
        }
        let code = msg[at];
        let sig_len = *msg.get(at + 1).ok_or("short field")? as usize;
        let sig = msg
            .get(at + 2..at + 2 + sig_len)
            .ok_or("short field signature")?;
        let mut v = at + 2 + sig_len + 1;
        match sig {
            b"u" => {
                v = v.div_ceil(4) * 4;
                let val = u32_at(v).ok_or("short field value")?;
                if code == FIELD_REPLY_SERIAL {
                    out.reply_serial = Some(val);
                }
                v += 4;
            }
            b"s" | b"o" => {
                let (s, end) = string_at(v).ok_or("short field string")?;
                if code == FIELD_ERROR_NAME {
                    out.error_name = Some(s);
                }
                v = end;
            }
            b"g" => {
                let len = *msg.get(v).ok_or("short field signature value")? as usize;
                let s = msg
                    .get(v + 1..v + 1 + len)
                    .ok_or("short field signature value")?;
                if code == FIELD_SIGNATURE {
                    body_sig = String::from_utf8_lossy(s).into_owned();
                }
                v += 1 + len + 1;
            }
            _ => {
                return Err(format!(
                    "unexpected header field type {}",
                    String::from_utf8_lossy(sig)
                ))
            }
        }
        at = v;
    }
    if out.kind == ERROR && body_sig.starts_with('s') {
        out.message = string_at(body_start).map(|(s, _)| s);
    }
    out.body = Body {
        signature: body_sig,
        big,
        bytes: msg.get(body_start..).unwrap_or_default().to_vec(),
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hello_matches_the_reference_vector() {
        let mut want = hex("6c010001 00000000 01000000 6e000000 01016f00 15000000");
        want.extend_from_slice(b"/org/freedesktop/DBus\0\0\0");
        want.extend_from_slice(&hex("06017300 14000000"));
        want.extend_from_slice(b"org.freedesktop.DBus\0\0\0\0");
        want.extend_from_slice(&hex("02017300 14000000"));
        want.extend_from_slice(b"org.freedesktop.DBus\0\0\0\0");
        want.extend_from_slice(&hex("03017300 05000000"));
        want.extend_from_slice(b"Hello\0\0\0");
        assert_eq!(want.len(), 128);
        assert_eq!(hello().encode(1), want);
    }

    #[test]
    fn activation_environment_body_matches_the_reference_vector() {
        let pairs = [
            ("WAYLAND_DISPLAY", "wayland-1"),
            ("XDG_CURRENT_DESKTOP", "Hyprland"),
            ("HWC_GPU", "nvidia"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let body = body_dict(&pairs);
        assert_eq!(body.len(), 0x6f);
        assert_eq!(&body[..8], &hex("67000000 00000000"));
        let mut at8 = hex("0f000000");
        at8.extend_from_slice(b"WAYLAND_DISPLAY\0");
        at8.extend_from_slice(&hex("09000000"));
        at8.extend_from_slice(b"wayland-1\0\0\0\0\0\0\0");
        assert_eq!(&body[8..48], at8.as_slice());
        assert_eq!(&body[88..92], &hex("07000000"));
        let call = Call {
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "UpdateActivationEnvironment",
            destination: "org.freedesktop.DBus",
            signature: "a{ss}",
            body,
        };
        let m = call.encode(2);
        assert_eq!(u32::from_le_bytes(m[12..16].try_into().unwrap()), 0x93);
        let sig_field = [&hex("08016700 05")[..], b"a{ss}\0"].concat();
        assert!(m
            .windows(sig_field.len())
            .any(|w| w == sig_field.as_slice()));
        assert_eq!(u32::from_le_bytes(m[4..8].try_into().unwrap()), 0x6f);
    }

    #[test]
    fn string_array_body() {
        let b = body_strings(&["A=1".to_string(), "BB=22".to_string()]);
        assert_eq!(
            b,
            [
                &hex("12000000 03000000")[..],
                b"A=1\0",
                &hex("05000000"),
                b"BB=22\0"
            ]
            .concat()
        );
        assert_eq!(body_strings(&[]), hex("00000000"));
    }

    /// A reply as the daemon would send it.
    fn reply(kind: u8, big: bool, reply_serial: u32, error: Option<(&str, &str)>) -> Vec<u8> {
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut m = vec![if big { b'B' } else { b'l' }, kind, 1, 1, 0, 0, 0, 0];
        m.extend_from_slice(&w32(99));
        m.extend_from_slice(&[0; 4]);
        let start = m.len();
        m.extend_from_slice(&[FIELD_REPLY_SERIAL, 1, b'u', 0]);
        m.extend_from_slice(&w32(reply_serial));
        let mut body = Vec::new();
        if let Some((name, text)) = error {
            pad(&mut m, 8);
            m.extend_from_slice(&[FIELD_ERROR_NAME, 1, b's', 0]);
            m.extend_from_slice(&w32(name.len() as u32));
            m.extend_from_slice(name.as_bytes());
            m.push(0);
            pad(&mut m, 8);
            m.extend_from_slice(&[FIELD_SIGNATURE, 1, b'g', 0, 1, b's', 0]);
            body.extend_from_slice(&w32(text.len() as u32));
            body.extend_from_slice(text.as_bytes());
            body.push(0);
        }
        let fl = (m.len() - start) as u32;
        m[12..16].copy_from_slice(&w32(fl));
        m[4..8].copy_from_slice(&w32(body.len() as u32));
        pad(&mut m, 8);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn replies_and_errors_in_both_byte_orders() {
        for big in [false, true] {
            let r = reply(METHOD_RETURN, big, 7, None);
            assert_eq!(message_len(&r[..16].try_into().unwrap()).unwrap(), r.len());
            let p = parse(&r).unwrap();
            assert_eq!((p.kind, p.reply_serial), (METHOD_RETURN, Some(7)));
            let e = reply(
                ERROR,
                big,
                8,
                Some((
                    "org.freedesktop.DBus.Error.ServiceUnknown",
                    "no systemd here",
                )),
            );
            let p = parse(&e).unwrap();
            assert_eq!(
                p.error_name.as_deref(),
                Some("org.freedesktop.DBus.Error.ServiceUnknown")
            );
            assert_eq!(p.message.as_deref(), Some("no systemd here"));
        }
    }

    #[test]
    fn reply_bodies_are_read_in_both_byte_orders() {
        for big in [false, true] {
            let w32 = |v: u32| {
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            // "x" then as ["a", "bc"], then a variant holding as ["d"].
            let mut b = Vec::new();
            b.extend_from_slice(&w32(1));
            b.extend_from_slice(b"x\0\0\0");
            b.extend_from_slice(&w32(15)); // array bytes: 4+2 (+2 pad) +4+3
            b.extend_from_slice(&w32(1));
            b.extend_from_slice(b"a\0\0\0");
            b.extend_from_slice(&w32(2));
            b.extend_from_slice(b"bc\0");
            b.extend_from_slice(&[2, b'a', b's', 0, 0]); // signature, then a pad byte
            b.extend_from_slice(&w32(6));
            b.extend_from_slice(&w32(1));
            b.extend_from_slice(b"d\0");
            let body = Body {
                signature: "sasv".into(),
                big,
                bytes: b,
            };
            let mut v = body.values();
            assert_eq!(v.string().unwrap(), "x");
            assert_eq!(v.strings().unwrap(), ["a", "bc"]);
            v.variant().unwrap();
            assert_eq!(v.strings().unwrap(), ["d"]);
            assert!(v.string().is_err(), "nothing more");
        }
        let cut = Body {
            signature: "as".into(),
            big: false,
            bytes: vec![200, 0, 0, 0, 1, 0, 0, 0, b'a', 0],
        };
        assert!(cut.values().strings().is_err());
    }

    #[test]
    fn parser_survives_random_and_mutated_messages() {
        let seeds = [
            reply(METHOD_RETURN, false, 1, None),
            reply(ERROR, true, 2, Some(("a.b", "c"))),
        ];
        let mut x = 0x0123_4567_89ab_cdefu64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20000 {
            let mut m = seeds[i % 2].clone();
            for _ in 0..(next() % 5) {
                let at = (next() as usize) % m.len();
                m[at] = next() as u8;
            }
            if next() % 3 == 0 {
                m.truncate((next() as usize) % (m.len() + 1));
            }
            let _ = parse(&m);
            if m.len() >= 16 {
                let _ = message_len(&m[..16].try_into().unwrap());
            }
        }
    }
}
