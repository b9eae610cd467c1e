//! Certificates for development and tests: a self-signed CA that issues a
//! broker certificate and client certificates. `vltava dev-certs` writes
//! them as PEM files a secured single node and its clients use directly.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::settings::TlsError;

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError::config(format!("making a certificate: {e}"))
}

/// A certificate authority for development.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate in PEM: the trust store of clients and brokers.
    pub cert_pem: String,
    /// The CA's private key in PEM.
    pub key_pem: String,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Server,
    Client,
}

/// A calendar day: (year, month, day).
pub type Day = (i32, u8, u8);

/// A certificate issued by a [`DevCa`], with its key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    /// The key store form Kafka's `ssl.keystore.type=PEM` file takes: the
    /// private key, then the certificate, then the CA's.
    pub fn keystore_pem(&self, ca: &DevCa) -> String {
        format!("{}{}{}", self.key_pem, self.cert_pem, ca.cert_pem)
    }
}

impl DevCa {
    pub fn new(common_name: &str) -> Result<DevCa, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "Vltava development");
        params.distinguished_name = dn;
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        let key_pem = key.serialize_pem();
        Ok(DevCa {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Issues a certificate for `common_name` (and, for a server, the host
    /// names and addresses in `hosts`), valid from `not_before` to
    /// `not_after` as (year, month, day).
    pub fn issue(
        &self,
        usage: Use,
        common_name: &str,
        hosts: &[String],
        validity: Option<(Day, Day)>,
    ) -> Result<Issued, TlsError> {
        let mut params = CertificateParams::new(hosts.to_vec()).map_err(err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "Vltava development");
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = match usage {
            // A broker is a TLS client too when it connects to the other
            // nodes, presenting the same certificate to listeners that ask
            // for one (ssl.client.auth).
            Use::Server => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Use::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        if let Some(((y1, m1, d1), (y2, m2, d2))) = validity {
            params.not_before = rcgen::date_time_ymd(y1, m1, d1);
            params.not_after = rcgen::date_time_ymd(y2, m2, d2);
        }
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The files `vltava dev-certs` writes.
#[derive(Debug, Clone)]
pub struct DevFiles {
    /// The CA certificate: clients' `ssl.ca.location` /
    /// `ssl.truststore.location`, and the broker's trust store for client
    /// certificates.
    pub ca: PathBuf,
    /// The broker's key store (key, certificate, CA certificate):
    /// `ssl.keystore.location` with `ssl.keystore.type=PEM`.
    pub broker_keystore: PathBuf,
    /// A client certificate and its key, as separate files (librdkafka's
    /// `ssl.certificate.location` and `ssl.key.location`), and together as a
    /// PEM key store for the Java client.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_keystore: PathBuf,
}

/// Writes a CA, a broker certificate for `hosts` (localhost and 127.0.0.1
/// are always included) and a client certificate for `client` into `dir`.
pub fn write_dev_certs(dir: &Path, hosts: &[String], client: &str) -> Result<DevFiles, TlsError> {
    std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
    let ca = DevCa::new("Vltava development CA")?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    for h in hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    let broker = ca.issue(Use::Server, &names[0], &names, None)?;
    let user = ca.issue(Use::Client, client, &[], None)?;
    let files = DevFiles {
        ca: dir.join("ca.pem"),
        broker_keystore: dir.join("broker.pem"),
        client_cert: dir.join("client-cert.pem"),
        client_key: dir.join("client-key.pem"),
        client_keystore: dir.join("client.pem"),
    };
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| err(format!("{}: {e}", path.display())))
    };
    write(&files.ca, &ca.cert_pem)?;
    write(&dir.join("ca-key.pem"), &ca.key_pem)?;
    write(&files.broker_keystore, &broker.keystore_pem(&ca))?;
    write(&files.client_cert, &user.cert_pem)?;
    write(&files.client_key, &user.key_pem)?;
    write(&files.client_keystore, &user.keystore_pem(&ca))?;
    Ok(files)
}
