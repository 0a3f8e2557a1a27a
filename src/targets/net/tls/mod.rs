//! TLS for network targets: rustls (no OpenSSL) on the pool's own non-blocking sockets.
//!
//! A [`TlsClient`] is built once per target from its [`TlsSettings`] and shared by every
//! connection of the run, so a reconnect resumes the session another connection made (TLS 1.3
//! tickets or TLS 1.2 session IDs, from rustls's in-memory cache of 256). Certificates are
//! verified against the system's roots (`/etc/ssl/certs` and the rest `rustls-native-certs`
//! knows) unless `cacert` names a PEM file, whose certificates are then the only roots, as with
//! curl's `--cacert`; `insecure` checks nothing about the certificate (but still the
//! handshake's signatures). The name sent (SNI) and checked is the URL's host; ALPN offers
//! `http/1.1` for HTTP.
//!
//! The pool does the handshake after the TCP connect, within the connect timeout, and times it
//! (`Done::result.handshake_ns`). rustls does the handshake; the connection's records after it
//! are sealed and opened in its own buffers ([`Session`]), so an open connection allocates
//! nothing per request. Certificate faults end the request with kinds of their own
//! ([`kinds`]); [`probe`](super::probe) completes one handshake before a run so that a target
//! no one can connect to stops the run at once with the reason.

use std::io::ErrorKind as IoErrorKind;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{UnbufferedClientConnection, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct};

use crate::targets::ErrorKind;

mod records;
mod session;

pub use session::Session;

/// Error kinds of TLS faults.
pub mod kinds {
    use crate::targets::ErrorKind;
    /// The certificate is signed by no trusted root (self-signed, or a private CA not given
    /// with `--cacert`).
    pub const UNTRUSTED: ErrorKind = ErrorKind::new("tls_untrusted");
    /// The certificate is not valid for the host the URL names.
    pub const WRONG_HOST: ErrorKind = ErrorKind::new("tls_wrong_host");
    /// The certificate has expired or is not valid yet.
    pub const EXPIRED: ErrorKind = ErrorKind::new("tls_expired");
    /// The server sent a CA certificate as its own (what `openssl req -x509` makes by
    /// default).
    pub const CA_AS_SERVER: ErrorKind = ErrorKind::new("tls_ca_as_server");
    /// Another fault of the certificate (bad signature, bad encoding, revoked, ...).
    pub const BAD_CERTIFICATE: ErrorKind = ErrorKind::new("tls_bad_certificate");
    /// The server sent a fatal alert (no cipher in common, no protocol in common, ...).
    pub const ALERT: ErrorKind = ErrorKind::new("tls_alert");
    /// Another TLS protocol fault.
    pub const PROTOCOL: ErrorKind = ErrorKind::new("tls");
}

/// How a target's TLS is set up: `--cacert` and `--insecure`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// A PEM file whose certificates are the only trusted roots.
    pub cacert: Option<String>,
    /// Accept any certificate.
    pub insecure: bool,
}

/// What every connection of a TLS target shares: the rustls config (with its session cache)
/// and the name the server is checked against.
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    settings: TlsSettings,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Two clients are the same when built from the same host and settings.
impl PartialEq for TlsClient {
    fn eq(&self, other: &TlsClient) -> bool {
        self.name == other.name && self.settings == other.settings
    }
}

impl Eq for TlsClient {}

impl TlsClient {
    /// A client for `host` (a name, an IPv4 address or a bracketed IPv6 one) offering the
    /// ALPN protocols `alpn`. Fails when the roots cannot be read.
    pub fn new(host: &str, settings: &TlsSettings, alpn: &[&[u8]]) -> Result<TlsClient, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("`{host}` is not a name TLS can check a certificate against"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        // --insecure checks no certificate; otherwise the roots' chain, then the pins.
        let chain = if settings.insecure {
            None
        } else {
            let (roots, pins) = roots(settings.cacert.as_deref())?;
            let chain =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("TLS setup: {e}"))?;
            Some((chain, pins))
        };
        let mut config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier { chain, provider }))
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // The keys pass to `Session`'s own record layer once the handshake is done.
        config.enable_secret_extraction = true;
        Ok(TlsClient {
            config: Arc::new(config),
            name,
            settings: settings.clone(),
        })
    }

    /// The same client (roots, checks, session cache) offering the ALPN protocols `alpn`.
    pub fn with_alpn(&self, alpn: &[&[u8]]) -> TlsClient {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsClient {
            config: Arc::new(config),
            name: self.name.clone(),
            settings: self.settings.clone(),
        }
    }

    /// The host the certificate is checked against, as the URL wrote it (without brackets).
    pub fn host(&self) -> String {
        self.name.to_str().into_owned()
    }

    /// A new connection's TLS state; its first flight is ready to be written.
    pub fn connect(&self) -> Result<Session, rustls::Error> {
        UnbufferedClientConnection::new(self.config.clone(), self.name.clone()).map(Session::new)
    }
}

/// The trusted roots, `cacert`'s certificates or the system's, and the certificates `cacert`
/// names (pinned: see [`Verifier`]).
fn roots(
    cacert: Option<&str>,
) -> Result<(rustls::RootCertStore, Vec<CertificateDer<'static>>), String> {
    let mut store = rustls::RootCertStore::empty();
    let Some(path) = cacert else {
        let found = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(found.certs);
        if store.is_empty() {
            return Err(
                "no trusted root certificates on this system (install ca-certificates, \
                 give --cacert FILE, or --insecure)"
                    .into(),
            );
        }
        return Ok((store, Vec::new()));
    };
    let pem = crate::base::input::read(std::path::Path::new(path))
        .map_err(|e| format!("cannot read --cacert {path}: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--cacert {path} is not PEM certificates: {e}"))?;
    let (added, _) = store.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err(format!(
            "--cacert {path} holds no certificate (a PEM file with -----BEGIN \
             CERTIFICATE----- blocks)"
        ));
    }
    Ok((store, certs))
}

/// How a server's certificate is checked: against the roots, and, as curl does with
/// `--cacert`, by acceptance of a server certificate that is itself one of the certificates
/// given there (pinned): what `openssl req -x509` makes is a self-signed CA certificate, which
/// the chain check refuses as a server's own. A pinned certificate must still name the host;
/// its dates are not checked (rustls's verifier checks them only along a chain). With
/// `--insecure` (no `chain`) every certificate is accepted. The handshake's signatures are
/// checked always, so the session is encrypted with whoever holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    /// The chain check and the pinned certificates; `None` under `--insecure`.
    chain: Option<(Arc<WebPkiServerVerifier>, Vec<CertificateDer<'static>>)>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some((chain, pins)) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        let verified = chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        if verified.is_ok() || !pins.iter().any(|pin| pin == end_entity) {
            return verified;
        }
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The error kind of a TLS fault.
pub fn error_kind(e: &rustls::Error) -> ErrorKind {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => kinds::UNTRUSTED,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                kinds::WRONG_HOST
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => kinds::EXPIRED,
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                kinds::CA_AS_SERVER
            }
            _ => kinds::BAD_CERTIFICATE,
        },
        rustls::Error::AlertReceived(_) => kinds::ALERT,
        _ => kinds::PROTOCOL,
    }
}

/// A TLS fault as an I/O error, so that the pool maps it like any socket error (see
/// [`io_error_kind`]).
pub fn io_error(e: rustls::Error) -> std::io::Error {
    std::io::Error::new(IoErrorKind::InvalidData, e)
}

/// The TLS kind of an I/O error made by [`io_error`], if it is one.
pub fn io_error_kind(e: &std::io::Error) -> Option<ErrorKind> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(error_kind)
}

/// A failed handshake in words, with what to do about it.
pub(crate) fn describe(e: &std::io::Error, client: &TlsClient, addr: &super::Peer) -> String {
    let host = client.host();
    let (what, hint) = match io_error_kind(e) {
        Some(k) if k == kinds::UNTRUSTED => (
            "its certificate chains to no root this machine trusts".to_string(),
            "give the CA's certificate (or the server's own) with --cacert FILE, or \
             --insecure to skip the check",
        ),
        Some(k) if k == kinds::CA_AS_SERVER => (
            "its certificate is a CA certificate, as `openssl req -x509` makes by default"
                .to_string(),
            "give that certificate with --cacert FILE to trust it as it is, or --insecure",
        ),
        Some(k) if k == kinds::WRONG_HOST => (
            format!("its certificate is not valid for {host}"),
            "the URL's host must be a name or address the certificate lists; --insecure skips \
             the check",
        ),
        Some(k) if k == kinds::EXPIRED => (
            "its certificate has expired or is not valid yet".to_string(),
            "check the server's certificate and this machine's clock",
        ),
        Some(_) => (
            e.to_string(),
            "--insecure skips the certificate checks, not the protocol",
        ),
        None if e.kind() == IoErrorKind::WouldBlock || e.kind() == IoErrorKind::TimedOut => (
            e.to_string(),
            "no answer within the connect timeout: is it a TLS port?",
        ),
        None => (e.to_string(), "is it a TLS port?"),
    };
    format!("TLS handshake with {host} at {addr} failed: {what} ({hint})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_faults_have_kinds_of_their_own() {
        let cert = |c| rustls::Error::InvalidCertificate(c);
        assert_eq!(
            error_kind(&cert(CertificateError::UnknownIssuer)),
            kinds::UNTRUSTED
        );
        assert_eq!(
            error_kind(&cert(CertificateError::NotValidForName)),
            kinds::WRONG_HOST
        );
        assert_eq!(error_kind(&cert(CertificateError::Expired)), kinds::EXPIRED);
        assert_eq!(
            error_kind(&cert(CertificateError::BadSignature)),
            kinds::BAD_CERTIFICATE
        );
        // Issue 27: told apart by the verifier's error type, not by the words of its message.
        let other = |e: webpki::Error| {
            cert(CertificateError::Other(rustls::OtherError(
                std::sync::Arc::new(e),
            )))
        };
        assert_eq!(
            error_kind(&other(webpki::Error::CaUsedAsEndEntity)),
            kinds::CA_AS_SERVER
        );
        assert_eq!(
            error_kind(&other(webpki::Error::EndEntityUsedAsCa)),
            kinds::BAD_CERTIFICATE
        );
        let io = io_error(cert(CertificateError::UnknownIssuer));
        assert_eq!(io_error_kind(&io), Some(kinds::UNTRUSTED));
        assert_eq!(io_error_kind(&std::io::Error::other("x")), None);
    }

    #[test]
    fn a_cacert_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = TlsSettings {
            cacert: Some(path.display().to_string()),
            insecure: false,
        };
        let e = TlsClient::new("localhost", &settings, &[]).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        let settings = TlsSettings {
            cacert: Some("/no/such/file.pem".into()),
            insecure: false,
        };
        assert!(
            TlsClient::new("localhost", &settings, &[])
                .unwrap_err()
                .contains("cannot read")
        );
        let insecure = TlsSettings {
            cacert: None,
            insecure: true,
        };
        assert!(TlsClient::new("127.0.0.1", &insecure, &[b"http/1.1"]).is_ok());
        assert!(TlsClient::new("[::1]", &insecure, &[]).is_ok());
    }
}
