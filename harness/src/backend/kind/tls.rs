//! The interception front's certificates: a CA kept in the harness's state directory (so a
//! reused kind cluster, whose source-controller and AWS provider were told to trust it through
//! `SSL_CERT_FILE`, keeps trusting it) and leaf certificates minted on demand for the SNI name
//! a client asks for, if that name is one the front intercepts.
//!
//! Keys are ECDSA P-256. The CA key is written with mode 0600 and never logged; this module
//! must not hand out certificates for names outside its allow-list (a client asking for any
//! other name gets no certificate, so its handshake fails).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls::crypto::ring::sign::any_supported_type;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// The CA certificate's file name in the state directory.
pub const CA_CERT_FILE: &str = "interception-ca.pem";
/// The CA key's file name in the state directory (mode 0600).
pub const CA_KEY_FILE: &str = "interception-ca-key.pem";
/// The CA's common name (fixed: the issuer of leaf certificates is rebuilt from it on reuse).
const CA_COMMON_NAME: &str = "idp-harness interception CA";

/// Errors making, loading or using the CA.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the TLS configuration: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
    #[error("the CA certificate is not PEM")]
    BadPem,
    #[error("{name:?} is not a name the interception front serves (it serves: {allowed})")]
    NotAllowed { name: String, allowed: String },
}

/// The interception CA.
pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    /// Where it was loaded from or written to, if anywhere.
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(p)
}

fn pem_der(pem: &str) -> Option<CertificateDer<'static>> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).ok().map(CertificateDer::from)
}

impl CertAuthority {
    /// A fresh CA kept in memory only (tests, dry runs).
    pub fn ephemeral() -> Result<CertAuthority, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(CertAuthority {
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(ca_params()?, key),
            dir: None,
        })
    }

    /// The CA of the state directory `dir`: loaded when both files are there and readable,
    /// otherwise generated and written (the directory is created if needed).
    pub fn load_or_create(dir: &Path) -> Result<CertAuthority, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if let (Ok(cert_pem), Ok(key_pem)) = (std::fs::read_to_string(&cert_path), std::fs::read_to_string(&key_path)) {
            if let (Some(der), Ok(key)) = (pem_der(&cert_pem), KeyPair::from_pem(&key_pem)) {
                // The issuer is rebuilt from the fixed parameters: same subject, same key, so the
                // same authority key identifier as the stored certificate. The certificate must
                // carry this key's public key (else the files do not belong together).
                let public = key.public_key_raw();
                let ours = !public.is_empty() && der.as_ref().windows(public.len()).any(|w| w == public);
                if ours {
                    return Ok(CertAuthority {
                        ca_pem: cert_pem,
                        ca_der: der,
                        issuer: Issuer::new(ca_params()?, key),
                        dir: Some(dir.to_path_buf()),
                    });
                }
            }
        }
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Io { what, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create the state directory", dir))?;
        let mut ca = CertAuthority::ephemeral()?;
        write_private(&key_path, &ca.issuer.key().serialize_pem()).map_err(io("write the CA key", &key_path))?;
        std::fs::write(&cert_path, &ca.ca_pem).map_err(io("write the CA certificate", &cert_path))?;
        ca.dir = Some(dir.to_path_buf());
        Ok(ca)
    }

    /// The CA certificate, PEM: what the cluster's clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate file, when the CA lives in a state directory.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(CA_CERT_FILE))
    }

    /// A leaf certificate for `name` (a DNS name or an IP address), with its key, for rustls.
    pub fn issue(&self, name: &str) -> Result<CertifiedKey, TlsError> {
        let mut params = CertificateParams::new(vec![name.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::NoCa;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = any_supported_type(&der)?;
        Ok(CertifiedKey::new(vec![cert.der().clone(), self.ca_der.clone()], signing))
    }
}

/// A TLS client configuration trusting only the CA in `ca_pem` (clients of the front in tests,
/// and fetching an https issuer's keys).
pub fn client_config(ca_pem: &str) -> Result<tokio_rustls::rustls::ClientConfig, TlsError> {
    use tokio_rustls::rustls;
    let der = pem_der(ca_pem).ok_or(TlsError::BadPem)?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Mints (and caches) a certificate for the SNI name of each handshake, if allowed. A client
/// that sends no SNI (it connected to an IP address) gets the certificate of `default_name`,
/// when one is set.
pub struct MintingResolver {
    ca: Arc<CertAuthority>,
    allowed: Vec<String>,
    default_name: Option<String>,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for MintingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintingResolver").field("allowed", &self.allowed).finish_non_exhaustive()
    }
}

impl MintingResolver {
    /// `allowed`: the names (compared case-insensitively) certificates may be minted for.
    pub fn new(ca: Arc<CertAuthority>, allowed: Vec<String>, default_name: Option<String>) -> MintingResolver {
        let allowed = allowed.into_iter().map(|n| n.to_ascii_lowercase()).collect();
        MintingResolver { ca, allowed, default_name, cache: Mutex::new(HashMap::new()) }
    }

    /// The certificate for `name`, minted on first use.
    pub fn certificate(&self, name: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !self.allowed.contains(&name) {
            return Err(TlsError::NotAllowed { name, allowed: self.allowed.join(", ") });
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&name) {
            return Ok(c.clone());
        }
        let c = Arc::new(self.ca.issue(&name)?);
        cache.insert(name, c.clone());
        Ok(c)
    }
}

impl ResolvesServerCert for MintingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_string).or_else(|| self.default_name.clone())?;
        match self.certificate(&name) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("interception front: refusing a TLS handshake: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_persisted_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = CertAuthority::load_or_create(dir.path()).expect("create");
        let second = CertAuthority::load_or_create(dir.path()).expect("load");
        assert_eq!(first.ca_pem(), second.ca_pem());
        assert!(first.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE)).expect("key file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A damaged key is replaced by a new CA.
        std::fs::write(dir.path().join(CA_KEY_FILE), "garbage").expect("write");
        let third = CertAuthority::load_or_create(dir.path()).expect("regenerate");
        assert_ne!(third.ca_pem(), first.ca_pem());
    }

    #[test]
    fn only_allowed_names_get_certificates_and_they_are_cached() {
        let ca = Arc::new(CertAuthority::ephemeral().expect("ca"));
        let r = MintingResolver::new(ca, vec!["GitHub.com".into(), "sts.us-east-1.amazonaws.com".into()], None);
        let a = r.certificate("github.com").expect("allowed");
        let b = r.certificate("github.com.").expect("allowed, trailing dot");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.cert.len(), 2, "leaf and CA");
        let err = r.certificate("example.com").expect_err("not allowed");
        assert!(err.to_string().contains("\"example.com\" is not a name the interception front serves"), "{err}");
    }
}
