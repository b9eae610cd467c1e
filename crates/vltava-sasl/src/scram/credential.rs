//! SCRAM's hash functions per mechanism and the stored credential: what
//! the broker keeps for a user (Kafka's `UserScramCredentialRecord`) and
//! how it is derived from a password or a salted password.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use crate::Mechanism;

/// The two SCRAM mechanisms Kafka has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// Kafka's bounds on the iteration count of a stored credential, the
    /// same for both mechanisms (`ScramMechanism`'s min and max).
    pub const MIN_ITERATIONS: u32 = 4096;
    pub const MAX_ITERATIONS: u32 = 16384;

    #[must_use]
    pub fn mechanism(self) -> Mechanism {
        match self {
            ScramMechanism::Sha256 => Mechanism::ScramSha256,
            ScramMechanism::Sha512 => Mechanism::ScramSha512,
        }
    }

    #[must_use]
    pub fn from_mechanism(mechanism: Mechanism) -> Option<ScramMechanism> {
        match mechanism {
            Mechanism::ScramSha256 => Some(ScramMechanism::Sha256),
            Mechanism::ScramSha512 => Some(ScramMechanism::Sha512),
            Mechanism::Plain | Mechanism::OAuthBearer => None,
        }
    }

    /// "SCRAM-SHA-256" or "SCRAM-SHA-512".
    #[must_use]
    pub fn name(self) -> &'static str {
        self.mechanism().name()
    }

    /// The length of the hash, and so of every key and of the proof.
    #[must_use]
    pub fn hash_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    /// The name of Kafka's Java enum constant, which its messages print.
    pub(super) fn java_name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM_SHA_256",
            ScramMechanism::Sha512 => "SCRAM_SHA_512",
        }
    }

    pub(super) fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramMechanism::Sha256 => run::<Hmac<Sha256>>(key, parts),
            ScramMechanism::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    pub(super) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with this mechanism's HMAC, one block.
    pub(super) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0; self.hash_len()];
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
            }
        }
        out
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the broker stores for one user and mechanism: Kafka's
/// `UserScramCredentialRecord` less the name and mechanism, which are the
/// key it is found under.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are password equivalents for this server: kept out of
        // logs.
        f.debug_struct("ScramCredential")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a credential could not be derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialError {
    message: String,
}

impl CredentialError {
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CredentialError {}

impl ScramCredential {
    /// The credential for `password`, salted with `salt` over `iterations`
    /// rounds (what `kafka-configs --add-config 'SCRAM-SHA-256=[password=…]'`
    /// makes, given the salt the caller drew).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, CredentialError> {
        check_parameters(mechanism, salt, iterations)?;
        let salted = mechanism.salted_password(password.as_bytes(), salt, iterations);
        ScramCredential::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// The credential from a salted password, as AlterUserScramCredentials
    /// carries it (the client has done the PBKDF2 rounds; the broker never
    /// sees the password).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, CredentialError> {
        check_parameters(mechanism, salt, iterations)?;
        if salted_password.len() != mechanism.hash_len() {
            return Err(CredentialError {
                message: format!(
                    "A salted password for {mechanism} has {} bytes, not {}",
                    salted_password.len(),
                    mechanism.hash_len()
                ),
            });
        }
        let (stored_key, server_key) = mechanism.keys_of(salted_password);
        Ok(ScramCredential {
            salt: salt.to_vec(),
            stored_key,
            server_key,
            iterations,
        })
    }
}

impl ScramMechanism {
    /// RFC 5802's StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
    /// ServerKey = HMAC(SaltedPassword, "Server Key"), with no checks of
    /// the salted password (the controller checks what Kafka checks).
    pub fn keys_of(self, salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let client_key = self.hmac(salted_password, &[b"Client Key"]);
        (
            self.hash(&client_key),
            self.hmac(salted_password, &[b"Server Key"]),
        )
    }
}

fn check_parameters(
    mechanism: ScramMechanism,
    salt: &[u8],
    iterations: u32,
) -> Result<(), CredentialError> {
    if salt.is_empty() {
        return Err(CredentialError {
            message: "A SCRAM credential needs a salt".to_owned(),
        });
    }
    if iterations < ScramMechanism::MIN_ITERATIONS {
        return Err(CredentialError {
            message: format!(
                "Iterations {iterations} is less than the minimum {} for {mechanism}",
                ScramMechanism::MIN_ITERATIONS
            ),
        });
    }
    if iterations > ScramMechanism::MAX_ITERATIONS {
        return Err(CredentialError {
            message: format!(
                "Iterations {iterations} is more than the maximum {} for {mechanism}",
                ScramMechanism::MAX_ITERATIONS
            ),
        });
    }
    Ok(())
}
