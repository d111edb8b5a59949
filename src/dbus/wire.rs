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
            cur: Cursor {
                bytes: &self.bytes,
                big: self.big,
                at: 0,
            },
            sig: self.signature.as_bytes(),
        }
    }
}

/// Reads aligned values of one byte order out of `bytes`, whose offset 0 is 8-aligned in the
/// message (the message itself, or its body). Every read checks its bounds: malformed input is
/// an `Err`, never a panic.
struct Cursor<'a> {
    bytes: &'a [u8],
    big: bool,
    at: usize,
}

impl Cursor<'_> {
    fn align(&mut self, to: usize) {
        self.at = self.at.div_ceil(to) * to;
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.align(4);
        let b: [u8; 4] = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or("short value")?;
        self.at += 4;
        Ok(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// A string or object path: length, bytes, NUL.
    fn text(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        let s = self
            .bytes
            .get(self.at..self.at + len)
            .ok_or("short string")?;
        self.at += len + 1;
        Ok(String::from_utf8_lossy(s).into_owned())
    }

    /// A signature: one length byte, bytes, NUL.
    fn signature(&mut self) -> Result<&[u8], String> {
        let len = *self.bytes.get(self.at).ok_or("short signature")? as usize;
        let s = self
            .bytes
            .get(self.at + 1..self.at + 1 + len)
            .ok_or("short signature")?;
        self.at += len + 2;
        Ok(s)
    }
}

/// Reads the values of a body one after another; each method checks the next signature code
/// and bounds, so a malformed reply is an `Err`, never a panic.
pub struct Values<'a> {
    cur: Cursor<'a>,
    sig: &'a [u8],
}

impl Values<'_> {
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
        self.cur.text()
    }

    /// The next value, an array of strings (`as`).
    pub fn strings(&mut self) -> Result<Vec<String>, String> {
        self.expect(b"as")?;
        let len = self.cur.u32()? as usize;
        let end = self.cur.at.checked_add(len).ok_or("bad array length")?;
        if end > self.cur.bytes.len() {
            return Err("array past the end of the reply body".into());
        }
        let mut out = Vec::new();
        while self.cur.at < end {
            out.push(self.cur.text()?);
        }
        Ok(out)
    }

    /// Opens the next value, a variant: what follows is read as the value it holds.
    pub fn variant(&mut self) -> Result<(), String> {
        self.expect(b"v")?;
        // The variant's own signature stands in for the rest of the outer one (a variant is
        // read last here: Properties.Get returns one value).
        self.sig = match self.cur.signature()? {
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

/// The value of one header field, as far as a reply's fields need it.
enum Field {
    Number(u32),
    Text(String),
    Signature(String),
}

/// The header field at the cursor (8-aligned): its code and value, the cursor past it.
fn header_field(cur: &mut Cursor) -> Result<(u8, Field), String> {
    let code = *cur.bytes.get(cur.at).ok_or("short field")?;
    cur.at += 1;
    let value = match cur.signature()? {
        b"u" => Field::Number(cur.u32()?),
        b"s" | b"o" => Field::Text(cur.text()?),
        b"g" => Field::Signature(String::from_utf8_lossy(cur.signature()?).into_owned()),
        other => {
            return Err(format!(
                "unexpected header field type {}",
                String::from_utf8_lossy(other)
            ))
        }
    };
    Ok((code, value))
}

/// Reads a whole message's header fields; never panics on bad input.
pub fn parse(msg: &[u8]) -> Result<Incoming, String> {
    if msg.len() < 16 {
        return Err("short message".into());
    }
    let mut cur = Cursor {
        bytes: msg,
        big: msg[0] == b'B',
        at: 12,
    };
    let fields_end = (cur.u32()? as usize)
        .checked_add(16)
        .filter(|&e| e <= msg.len())
        .ok_or("header fields past the end")?;
    let mut out = Incoming {
        kind: msg[1],
        reply_serial: None,
        error_name: None,
        message: None,
        body: Body::default(),
    };
    let mut signature = String::new();
    loop {
        cur.align(8);
        if cur.at >= fields_end {
            break;
        }
        match header_field(&mut cur)? {
            (FIELD_REPLY_SERIAL, Field::Number(n)) => out.reply_serial = Some(n),
            (FIELD_ERROR_NAME, Field::Text(name)) => out.error_name = Some(name),
            (FIELD_SIGNATURE, Field::Signature(sig)) => signature = sig,
            _ => {}
        }
    }
    out.body = Body {
        signature,
        big: cur.big,
        bytes: msg
            .get(fields_end.div_ceil(8) * 8..)
            .unwrap_or_default()
            .to_vec(),
    };
    if out.kind == ERROR && out.body.signature.starts_with('s') {
        out.message = out.body.values().string().ok();
    }
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
