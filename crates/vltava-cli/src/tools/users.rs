//! `vltava users scram set|delete|list`: users' SCRAM credentials, as
//! Kafka's `kafka-configs.sh --entity-type users --alter --add-config
//! 'SCRAM-SHA-256=[iterations=8192,password=...]'` (and
//! `--delete-config`, `--describe`) manage them.
//!
//! The password never leaves this process: the tool salts it (PBKDF2 with
//! the mechanism's HMAC over a fresh random salt) and sends the salted
//! password, from which the controller keeps only the derived keys.

use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::client::security::{scram_mechanism, scram_mechanism_name};
use vltava_client::ScramUpsertion;

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct UsersArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// SCRAM credentials (SASL/SCRAM-SHA-256 and SCRAM-SHA-512).
    #[command(subcommand)]
    Scram(ScramCommand),
}

#[derive(Subcommand, Debug)]
pub enum ScramCommand {
    /// Set (or replace) a user's credential for one mechanism.
    Set {
        #[arg(long)]
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: i8,
        #[arg(long)]
        password: String,
        /// PBKDF2 iterations; the broker accepts 4096 to 16384.
        #[arg(long, default_value_t = 4096)]
        iterations: i32,
    },
    /// Delete a user's credential for one mechanism.
    Delete {
        #[arg(long)]
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: i8,
    },
    /// List users with their mechanisms and iteration counts (all users
    /// with a credential, or those named).
    List {
        /// A user to describe; repeatable.
        #[arg(long = "user", value_name = "USER")]
        users: Vec<String>,
    },
}

fn parse_mechanism(s: &str) -> Result<i8, String> {
    scram_mechanism(s).ok_or_else(|| format!("{s:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"))
}

fn mechanism_name(m: i8) -> String {
    scram_mechanism_name(m).map_or_else(|| format!("UNKNOWN({m})"), str::to_string)
}

pub async fn run(args: UsersArgs) -> Result<(), ToolError> {
    let json = args.common.json();
    let UsersCommand::Scram(command) = args.command;
    let mut client = args.common.connect().await?;
    match command {
        ScramCommand::Set {
            user,
            mechanism,
            password,
            iterations,
        } => {
            let upsertion = ScramUpsertion::new(&user, mechanism, iterations, &password)
                .ok_or_else(|| {
                    ToolError::Input(format!("{iterations} is not an iteration count"))
                })?;
            for (_, result) in client.alter_scram_credentials(&[], &[upsertion]).await? {
                result?;
            }
            print(&format!(
                "Set the {} credential of user {user}.\n",
                mechanism_name(mechanism)
            ))
        }
        ScramCommand::Delete { user, mechanism } => {
            for (_, result) in client
                .alter_scram_credentials(&[(user.clone(), mechanism)], &[])
                .await?
            {
                result?;
            }
            print(&format!(
                "Deleted the {} credential of user {user}.\n",
                mechanism_name(mechanism)
            ))
        }
        ScramCommand::List { users } => {
            let names: Vec<&str> = users.iter().map(String::as_str).collect();
            let asked = (!names.is_empty()).then_some(&names[..]);
            let mut rows = Vec::new();
            for (user, result) in client.describe_scram_credentials(asked).await? {
                for (mechanism, iterations) in result? {
                    rows.push((user.clone(), mechanism, iterations));
                }
            }
            rows.sort();
            if json {
                print_json(&list_json(&rows))
            } else {
                print(&list_table(&rows))
            }
        }
    }
}

fn list_json(rows: &[(String, i8, i32)]) -> serde_json::Value {
    json!(rows
        .iter()
        .map(|(user, m, iterations)| json!({
            "user": user,
            "mechanism": mechanism_name(*m),
            "iterations": iterations,
        }))
        .collect::<Vec<_>>())
}

fn list_table(rows: &[(String, i8, i32)]) -> String {
    let mut t = Table::new(&["USER", "MECHANISM", "ITERATIONS"]);
    for (user, m, iterations) in rows {
        t.push(vec![
            user.clone(),
            mechanism_name(*m),
            iterations.to_string(),
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
    fn arguments_and_output() {
        let ToolCommand::Users(args) = parse(&[
            "users",
            "scram",
            "set",
            "--user",
            "alice",
            "--mechanism",
            "SCRAM-SHA-512",
            "--password",
            "alice-secret",
        ])
        .unwrap() else {
            panic!()
        };
        let UsersCommand::Scram(ScramCommand::Set {
            user,
            mechanism,
            password,
            iterations,
        }) = args.command
        else {
            panic!()
        };
        assert_eq!(
            (user.as_str(), mechanism, password.as_str(), iterations),
            ("alice", 2, "alice-secret", 4096)
        );
        assert!(parse(&[
            "users",
            "scram",
            "delete",
            "--user",
            "a",
            "--mechanism",
            "PLAIN"
        ])
        .is_err());
        let rows = vec![("alice".to_string(), 1, 8192)];
        assert_eq!(
            list_table(&rows),
            "USER   MECHANISM      ITERATIONS\nalice  SCRAM-SHA-256  8192\n"
        );
        assert_eq!(
            list_json(&rows).to_string(),
            r#"[{"iterations":8192,"mechanism":"SCRAM-SHA-256","user":"alice"}]"#
        );
    }
}
