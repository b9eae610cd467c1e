//! Delegation tokens as SCRAM logins (KIP-48): a token authenticates with
//! its id as the user name and the base64 of its HMAC as the password,
//! over SCRAM-SHA-256 or -512 with the `tokenauth=true` extension.
//!
//! The HMAC is HMAC-SHA512 of the token id under
//! `delegation.token.secret.key` (Kafka's `DelegationTokenManager`). The
//! metadata never holds it: each node computes it, and from it the SCRAM
//! credential, with its own copy of the secret.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::{ScramCredential, ScramMechanism};

/// The HMAC of a token: what CreateDelegationToken answers, and what Renew
/// and Expire name the token by.
#[must_use]
pub fn delegation_token_hmac(secret: &str, token_id: &str) -> Vec<u8> {
    ScramMechanism::Sha512.hmac(secret.as_bytes(), &[token_id.as_bytes()])
}

/// The password a client authenticates a token with.
#[must_use]
pub fn delegation_token_password(hmac: &[u8]) -> String {
    BASE64.encode(hmac)
}

/// The SCRAM credential of a token for `mechanism`. Kafka draws a random
/// salt for it on each node; here the salt is derived from the token id,
/// so every node (and every exchange) agrees without storing anything.
/// A salt is public (the server sends it); it only has to differ between
/// tokens.
#[must_use]
pub fn delegation_token_credential(
    mechanism: ScramMechanism,
    token_id: &str,
    hmac: &[u8],
) -> ScramCredential {
    let salt = Sha256::new()
        .chain_update(b"vltava delegation token salt\0")
        .chain_update(token_id.as_bytes())
        .finalize();
    ScramCredential::from_password(
        mechanism,
        &delegation_token_password(hmac),
        &salt[..16],
        ScramMechanism::MIN_ITERATIONS,
    )
    .expect("a 16-byte salt and the minimum iterations are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hmac_is_hmac_sha512_of_the_id_under_the_secret() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for
        // nothing?".
        let hmac = delegation_token_hmac("Jefe", "what do ya want for nothing?");
        assert_eq!(hmac[..8], [0x16, 0x4b, 0x7a, 0x7b, 0xfc, 0xf8, 0x19, 0xe2]);
        assert_eq!(hmac.len(), 64);
        let a = delegation_token_credential(ScramMechanism::Sha256, "t1", &hmac);
        let b = delegation_token_credential(ScramMechanism::Sha256, "t1", &hmac);
        let c = delegation_token_credential(ScramMechanism::Sha256, "t2", &hmac);
        assert_eq!(a, b);
        assert_ne!(a.salt, c.salt);
    }
}
