//! `vltava delegation-tokens create|renew|expire|describe`: delegation
//! tokens, as Kafka's `kafka-delegation-tokens.sh` manages them. A token
//! logs in with SCRAM: its id as the user name, the base64 HMAC this tool
//! prints as the password, and `tokenauth="true"` in the JAAS config.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::client::tokens::DelegationToken;

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct TokensArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: TokensCommand,
}

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Create a token for the logged-in user (or, with CreateTokens on that
    /// user, for --owner).
    Create {
        /// The owner, as Type:Name (User:alice).
        #[arg(long, value_name = "PRINCIPAL")]
        owner: Option<String>,
        /// A principal that may renew the token; repeatable.
        #[arg(long = "renewer", value_name = "PRINCIPAL")]
        renewers: Vec<String>,
        /// The token's maximum lifetime; 0 takes the broker's
        /// (delegation.token.max.lifetime.ms).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        max_lifetime_ms: i64,
    },
    /// Renew a token (by its HMAC) as its owner or a renewer.
    Renew {
        /// The token's HMAC, base64.
        #[arg(long)]
        hmac: String,
        /// How long from now; 0 takes the broker's expiry time
        /// (delegation.token.expiry.time.ms).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        renew_period_ms: i64,
    },
    /// Expire a token (by its HMAC): now, or after a period.
    Expire {
        /// The token's HMAC, base64.
        #[arg(long)]
        hmac: String,
        /// How long from now; negative expires it at once.
        #[arg(long, value_name = "MS", default_value_t = -1, allow_hyphen_values = true)]
        expiry_period_ms: i64,
    },
    /// The tokens the logged-in user may see (of the owners named).
    Describe {
        /// An owner, as Type:Name; repeatable.
        #[arg(long = "owner", value_name = "PRINCIPAL")]
        owners: Vec<String>,
    },
}

fn hmac_of(text: &str) -> Result<Vec<u8>, ToolError> {
    BASE64
        .decode(text.trim())
        .map_err(|e| ToolError::Input(format!("--hmac is not base64: {e}")))
}

pub async fn run(args: TokensArgs) -> Result<(), ToolError> {
    let json = args.common.json();
    let mut client = args.common.connect().await?;
    match args.command {
        TokensCommand::Create {
            owner,
            renewers,
            max_lifetime_ms,
        } => {
            let token = client
                .create_delegation_token(owner.as_deref(), &renewers, max_lifetime_ms)
                .await?;
            if json {
                print_json(&token_json(&token))
            } else {
                print(&format!(
                    "Created a delegation token.\n{}",
                    tokens_table(&[token])
                ))
            }
        }
        TokensCommand::Renew {
            hmac,
            renew_period_ms,
        } => {
            let expiry = client
                .renew_delegation_token(&hmac_of(&hmac)?, renew_period_ms)
                .await?;
            if json {
                print_json(&json!({ "expiry_ms": expiry }))
            } else {
                print(&format!(
                    "Renewed the token; it now expires at {expiry} ms.\n"
                ))
            }
        }
        TokensCommand::Expire {
            hmac,
            expiry_period_ms,
        } => {
            let expiry = client
                .expire_delegation_token(&hmac_of(&hmac)?, expiry_period_ms)
                .await?;
            if json {
                print_json(&json!({ "expiry_ms": expiry }))
            } else {
                print(&format!("Expired the token; its expiry is {expiry} ms.\n"))
            }
        }
        TokensCommand::Describe { owners } => {
            let asked = (!owners.is_empty()).then_some(&owners[..]);
            let mut tokens = client.describe_delegation_tokens(asked).await?;
            tokens.sort_by(|a, b| a.token_id.cmp(&b.token_id));
            if json {
                print_json(&json!(tokens.iter().map(token_json).collect::<Vec<_>>()))
            } else {
                print(&tokens_table(&tokens))
            }
        }
    }
}

fn token_json(t: &DelegationToken) -> serde_json::Value {
    json!({
        "token_id": t.token_id,
        "hmac": BASE64.encode(&t.hmac),
        "owner": t.owner,
        "requester": t.requester,
        "renewers": t.renewers,
        "issue_ms": t.issue_ms,
        "expiry_ms": t.expiry_ms,
        "max_ms": t.max_ms,
    })
}

fn tokens_table(tokens: &[DelegationToken]) -> String {
    let mut t = Table::new(&[
        "TOKEN ID",
        "HMAC",
        "OWNER",
        "REQUESTER",
        "RENEWERS",
        "ISSUED (MS)",
        "EXPIRES (MS)",
        "MAX (MS)",
    ]);
    for token in tokens {
        t.push(vec![
            token.token_id.clone(),
            BASE64.encode(&token.hmac),
            token.owner.clone(),
            token.requester.clone(),
            token.renewers.join(","),
            token.issue_ms.to_string(),
            token.expiry_ms.to_string(),
            token.max_ms.to_string(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::parse;
    use crate::tools::ToolCommand;

    #[test]
    fn arguments() {
        let ToolCommand::DelegationTokens(args) = parse(&[
            "delegation-tokens",
            "create",
            "--owner",
            "User:alice",
            "--renewer",
            "User:bob",
            "--renewer",
            "User:carol",
        ])
        .unwrap() else {
            panic!()
        };
        let TokensCommand::Create {
            owner, renewers, ..
        } = args.command
        else {
            panic!()
        };
        assert_eq!(owner.as_deref(), Some("User:alice"));
        assert_eq!(renewers, vec!["User:bob", "User:carol"]);
        let ToolCommand::DelegationTokens(args) =
            parse(&["delegation-tokens", "expire", "--hmac", "aGk="]).unwrap()
        else {
            panic!()
        };
        let TokensCommand::Expire {
            hmac,
            expiry_period_ms,
        } = args.command
        else {
            panic!()
        };
        assert_eq!(hmac_of(&hmac).unwrap(), b"hi");
        assert_eq!(expiry_period_ms, -1);
        assert!(hmac_of("not base64!").is_err());
    }
}
