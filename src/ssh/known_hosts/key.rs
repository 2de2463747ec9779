//! Public keys as SSH wire blobs: the key types OpenSSH knows, each
//! type's public parts (enough to compare keys as OpenSSH does), and the
//! fingerprint ssh prints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

/// The SHA256 fingerprint of a key blob, exactly as `ssh-keygen -lf` and
/// ssh print it: `SHA256:` and unpadded base64.
pub fn fingerprint(key_blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(key_blob))
    )
}

/// A parsed public key: enough to compare keys the way OpenSSH does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) kind: KeyKind,
    /// The public parts, normalised (mpints without leading zeros).
    pub(super) public: Vec<Vec<u8>>,
    /// For a certificate, its whole blob (OpenSSH compares certificates
    /// byte for byte).
    pub(super) cert: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algo {
    Rsa,
    Dsa,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    SkEcdsaP256,
    Ed25519,
    SkEd25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyKind {
    pub(super) algo: Algo,
    pub(super) cert: bool,
}

/// The key type names OpenSSH 9 accepts (sshkey.c keyimpls), including
/// the RSA signature names, which its parser maps to RSA keys.
const KEY_NAMES: &[(&str, Algo, bool)] = &[
    ("ssh-ed25519", Algo::Ed25519, false),
    ("ssh-ed25519-cert-v01@openssh.com", Algo::Ed25519, true),
    ("sk-ssh-ed25519@openssh.com", Algo::SkEd25519, false),
    ("sk-ssh-ed25519-cert-v01@openssh.com", Algo::SkEd25519, true),
    ("ecdsa-sha2-nistp256", Algo::EcdsaP256, false),
    ("ecdsa-sha2-nistp384", Algo::EcdsaP384, false),
    ("ecdsa-sha2-nistp521", Algo::EcdsaP521, false),
    (
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        Algo::EcdsaP256,
        true,
    ),
    (
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        Algo::EcdsaP384,
        true,
    ),
    (
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        Algo::EcdsaP521,
        true,
    ),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        Algo::SkEcdsaP256,
        false,
    ),
    (
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        Algo::SkEcdsaP256,
        true,
    ),
    ("ssh-rsa", Algo::Rsa, false),
    ("ssh-rsa-cert-v01@openssh.com", Algo::Rsa, true),
    ("rsa-sha2-256", Algo::Rsa, false),
    ("rsa-sha2-512", Algo::Rsa, false),
    ("rsa-sha2-256-cert-v01@openssh.com", Algo::Rsa, true),
    ("rsa-sha2-512-cert-v01@openssh.com", Algo::Rsa, true),
    ("ssh-dss", Algo::Dsa, false),
    ("ssh-dss-cert-v01@openssh.com", Algo::Dsa, true),
];

impl KeyKind {
    pub(super) fn from_name(name: &[u8]) -> Option<KeyKind> {
        KEY_NAMES
            .iter()
            .find(|(n, _, _)| n.as_bytes() == name)
            .map(|&(_, algo, cert)| KeyKind { algo, cert })
    }

    /// The canonical name (the first one listed for this kind).
    pub(super) fn name(self) -> &'static str {
        KEY_NAMES
            .iter()
            .find(|&&(_, algo, cert)| algo == self.algo && cert == self.cert)
            .map_or("unknown", |(n, _, _)| n)
    }

    pub(super) fn plain(self) -> Algo {
        self.algo
    }
}

/// Big-endian SSH wire reader (sshbuf getters).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    /// sshbuf_get_cstring: a NUL is allowed only as the last byte (and is
    /// then not part of the string).
    fn cstring(&mut self) -> Option<&'a [u8]> {
        let s = self.string()?;
        match s.iter().position(|&b| b == 0) {
            None => Some(s),
            Some(z) if z + 1 == s.len() => Some(&s[..z]),
            Some(_) => None,
        }
    }

    /// sshbuf_get_bignum2: non-negative, at most 16384 bits, leading zeros
    /// dropped.
    fn mpint(&mut self) -> Option<Vec<u8>> {
        const MAX_BYTES: usize = 16384 / 8;
        let d = self.string()?;
        if d.first().is_some_and(|&b| b & 0x80 != 0) {
            return None;
        }
        if d.len() > MAX_BYTES + 1 || (d.len() == MAX_BYTES + 1 && d[0] != 0) {
            return None;
        }
        let zeros = d.iter().take_while(|&&b| b == 0).count();
        Some(d[zeros..].to_vec())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// sshkey_from_blob: the whole blob must be one well-formed key.
pub(super) fn parse_blob(blob: &[u8], allow_cert: bool) -> Option<Key> {
    let mut r = Reader(blob);
    let kind = KeyKind::from_name(r.cstring()?)?;
    if kind.cert && !allow_cert {
        return None;
    }
    if kind.cert {
        r.string()?; // nonce
    }
    let public = read_public(kind.algo, &mut r)?;
    if kind.cert {
        read_cert_body(&mut r)?;
    }
    if !r.is_empty() {
        return None;
    }
    Some(Key {
        kind,
        public,
        cert: kind.cert.then(|| blob.to_vec()),
    })
}

/// The public fields of each key type (sshkey-*.c deserialize_public).
fn read_public(algo: Algo, r: &mut Reader<'_>) -> Option<Vec<Vec<u8>>> {
    fn ecdsa(r: &mut Reader<'_>, curve: &[u8], coord: usize) -> Option<Vec<Vec<u8>>> {
        if r.cstring()? != curve {
            return None;
        }
        let point = r.string()?;
        // Uncompressed points only, as OpenSSH; on-curve is not checked.
        if point.len() != 1 + 2 * coord || point[0] != 0x04 {
            return None;
        }
        Some(vec![curve.to_vec(), point.to_vec()])
    }
    Some(match algo {
        Algo::Ed25519 => vec![r.string().filter(|pk| pk.len() == 32)?.to_vec()],
        Algo::SkEd25519 => {
            let pk = r.string().filter(|pk| pk.len() == 32)?.to_vec();
            vec![pk, r.cstring()?.to_vec()]
        }
        Algo::EcdsaP256 => ecdsa(r, b"nistp256", 32)?,
        Algo::EcdsaP384 => ecdsa(r, b"nistp384", 48)?,
        Algo::EcdsaP521 => ecdsa(r, b"nistp521", 66)?,
        Algo::SkEcdsaP256 => {
            let mut parts = ecdsa(r, b"nistp256", 32)?;
            parts.push(r.cstring()?.to_vec());
            parts
        }
        Algo::Rsa => {
            let e = r.mpint()?;
            let n = r.mpint()?;
            // OpenSSH refuses RSA keys under 1024 bits.
            // An empty modulus (a zero mpint) has no bits; subtracting 8
            // from its length overflowed (a panic in debug builds, and in
            // release a huge count that let the key's shape pass).
            let bits = n
                .first()
                .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if bits < 1024 {
                return None;
            }
            vec![e, n]
        }
        Algo::Dsa => vec![r.mpint()?, r.mpint()?, r.mpint()?, r.mpint()?],
    })
}

/// sshkey.c cert_parse, without verifying the CA's signature.
fn read_cert_body(r: &mut Reader<'_>) -> Option<()> {
    r.u64()?; // serial
    let cert_type = r.u32()?;
    r.cstring()?; // key id
    let principals = r.string()?;
    r.u64()?; // valid after
    r.u64()?; // valid before
    let critical = r.string()?;
    let extensions = r.string()?;
    r.string()?; // reserved
    let ca = r.string()?;
    r.string()?; // signature
    if cert_type != 1 && cert_type != 2 {
        return None;
    }
    let mut p = Reader(principals);
    let mut count = 0;
    while !p.is_empty() {
        count += 1;
        if count > 256 {
            return None;
        }
        p.cstring()?;
    }
    for options in [critical, extensions] {
        let mut o = Reader(options);
        while !o.is_empty() {
            o.string()?;
            o.string()?;
        }
    }
    parse_blob(ca, false).map(|_| ())
}
