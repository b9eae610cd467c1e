//! The client side of SCRAM, for Vltava's own tools and tests and for the
//! broker's connections to other brokers: client-first, client-final with
//! the proof, and the check of the server's signature (a server that does
//! not know the password cannot produce it).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use subtle::ConstantTimeEq;

use super::ScramMechanism;

/// One SCRAM exchange as the client.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_first_bare: String,
    nonce: String,
    auth_message: String,
    salted_password: Vec<u8>,
}

impl ScramClient {
    /// `nonce` must be printable ASCII without `,`, drawn from a secure
    /// random source by the caller.
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str, nonce: &str) -> ScramClient {
        let escaped = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            password: password.to_owned(),
            client_first_bare: format!("n={escaped},r={nonce}"),
            nonce: nonce.to_owned(),
            auth_message: String::new(),
            salted_password: Vec::new(),
        }
    }

    /// Authenticates with a delegation token: `user` is the token id and
    /// the password its HMAC (base64), and the client-first message
    /// carries the `tokenauth=true` extension (KIP-48).
    #[must_use]
    pub fn with_token_auth(mut self) -> ScramClient {
        self.client_first_bare.push_str(",tokenauth=true");
        self
    }

    /// The client-first message (no channel binding, no authzid).
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Reads the server-first message and returns the client-final one.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(server_first)
            .map_err(|_| "the server-first message is not UTF-8".to_string())?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(format!("the server refused: {error}"));
        }
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for field in text.split(',') {
            match field.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = BASE64.decode(v).ok(),
                Some(("i", v)) => iterations = v.parse::<u32>().ok(),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(format!("malformed server-first message: {text}"));
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server nonce does not extend ours".into());
        }
        if iterations < ScramMechanism::MIN_ITERATIONS {
            return Err(format!("{iterations} iterations is too few"));
        }
        let m = self.mechanism;
        self.salted_password = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let without_proof = format!("c={},r={nonce}", BASE64.encode("n,,"));
        self.auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_key = m.hmac(&self.salted_password, &[b"Client Key"]);
        let stored_key = m.hash(&client_key);
        let signature = m.hmac(&stored_key, &[self.auth_message.as_bytes()]);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message's signature.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "the server-final message is not UTF-8".to_string())?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(format!("the server refused: {error}"));
        }
        let m = self.mechanism;
        let server_key = m.hmac(&self.salted_password, &[b"Server Key"]);
        let expected = m.hmac(&server_key, &[self.auth_message.as_bytes()]);
        let given = text
            .strip_prefix("v=")
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or_else(|| format!("malformed server-final message: {text}"))?;
        if bool::from(given.ct_eq(&expected)) {
            Ok(())
        } else {
            Err("the server's signature is wrong: it does not know the credential".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram::{ScramCredential, ScramServer};

    fn exchange(stored_password: &str, client_password: &str) -> Result<String, String> {
        let m = ScramMechanism::Sha512;
        let credential =
            ScramCredential::from_password(m, stored_password, b"0123456789abcdef", 4096).unwrap();
        let mut server = ScramServer::new(m);
        let mut client = ScramClient::new(m, "alice", client_password, "clientnonce");
        let first = server
            .client_first(
                &client.client_first(),
                |_| Some(credential.clone()),
                "servernonce",
            )
            .map_err(|e| e.to_string())?;
        let last = client.client_final(&first)?;
        let (server_final, user) = server.client_final(&last).map_err(|e| e.to_string())?;
        client.verify_server_final(&server_final)?;
        Ok(user)
    }

    #[test]
    fn the_client_and_the_server_agree_on_the_right_password() {
        assert_eq!(exchange("secret", "secret").unwrap(), "alice");
    }

    #[test]
    fn a_wrong_password_is_refused_by_the_server() {
        assert!(exchange("secret", "guess").is_err());
    }

    #[test]
    fn a_server_without_the_credential_cannot_sign() {
        let m = ScramMechanism::Sha256;
        let mut client = ScramClient::new(m, "alice", "secret", "clientnonce");
        let first = b"r=clientnonceXYZ,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=4096";
        client.client_final(first).unwrap();
        assert!(client.verify_server_final(b"v=AAAA").is_err());
        let mut client = ScramClient::new(m, "alice", "secret", "clientnonce");
        assert!(client.client_final(b"r=othernonce,s=AAAA,i=4096").is_err());
    }
}
