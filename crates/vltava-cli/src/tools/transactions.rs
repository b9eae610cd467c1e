//! `vltava transactions`: the transactional ids the cluster coordinates
//! (`list`) and the state of one (`describe`), like Kafka's
//! `kafka-transactions.sh list|describe`.

use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::{ListedTransaction, TransactionDescription};

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct TransactionsArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: TransactionsCommand,
}

#[derive(Subcommand, Debug)]
pub enum TransactionsCommand {
    /// List transactional ids with their producer id and state.
    List {
        /// Only ids in this state (Empty, Ongoing, PrepareCommit,
        /// PrepareAbort, CompleteCommit, CompleteAbort); repeatable.
        #[arg(long = "state", value_name = "STATE")]
        states: Vec<String>,
    },
    /// Show a transactional id's producer, state, timeout and the
    /// partitions of its current transaction.
    Describe {
        /// The transactional id.
        transactional_id: String,
    },
}

pub async fn run(args: TransactionsArgs) -> Result<(), ToolError> {
    let mut client = args.common.connect().await?;
    let json = args.common.json();
    match args.command {
        TransactionsCommand::List { states } => {
            let listed = client.list_transactions(&states).await?;
            if json {
                print_json(&list_json(&listed))
            } else {
                print(&render_list(&listed))
            }
        }
        TransactionsCommand::Describe { transactional_id } => {
            let described = client.describe_transaction(&transactional_id).await?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            if json {
                print_json(&describe_json(&described))
            } else {
                print(&render_describe(&described, now_ms))
            }
        }
    }
}

fn list_json(listed: &[ListedTransaction]) -> serde_json::Value {
    json!(listed
        .iter()
        .map(|t| json!({
            "transactional_id": t.transactional_id,
            "producer_id": t.producer_id,
            "state": t.state,
        }))
        .collect::<Vec<_>>())
}

fn render_list(listed: &[ListedTransaction]) -> String {
    let mut t = Table::new(&["TRANSACTIONAL-ID", "PRODUCER-ID", "STATE"]);
    for l in listed {
        t.push(vec![
            l.transactional_id.clone(),
            l.producer_id.to_string(),
            l.state.clone(),
        ]);
    }
    t.render()
}

fn describe_json(d: &TransactionDescription) -> serde_json::Value {
    json!({
        "transactional_id": d.transactional_id,
        "coordinator_id": d.coordinator_id,
        "state": d.state,
        "producer_id": d.producer_id,
        "producer_epoch": d.producer_epoch,
        "timeout_ms": d.timeout_ms,
        "start_time_ms": d.start_time_ms,
        "partitions": d.partitions.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect::<Vec<_>>(),
    })
}

/// One row, the columns of `kafka-transactions.sh describe`.
fn render_describe(d: &TransactionDescription, now_ms: i64) -> String {
    let mut t = Table::new(&[
        "COORDINATOR-ID",
        "TRANSACTIONAL-ID",
        "PRODUCER-ID",
        "PRODUCER-EPOCH",
        "STATE",
        "TIMEOUT-MS",
        "START-TIME-MS",
        "DURATION-MS",
        "PARTITIONS",
    ]);
    let ongoing = d.start_time_ms >= 0 && d.state == "Ongoing";
    t.push(vec![
        d.coordinator_id.to_string(),
        d.transactional_id.clone(),
        d.producer_id.to_string(),
        d.producer_epoch.to_string(),
        d.state.clone(),
        d.timeout_ms.to_string(),
        if d.start_time_ms >= 0 {
            d.start_time_ms.to_string()
        } else {
            "None".to_string()
        },
        if ongoing {
            (now_ms - d.start_time_ms).max(0).to_string()
        } else {
            "None".to_string()
        },
        d.partitions
            .iter()
            .map(|(topic, p)| format!("{topic}-{p}"))
            .collect::<Vec<_>>()
            .join(","),
    ]);
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::parse;
    use crate::tools::ToolCommand;

    fn sample() -> TransactionDescription {
        TransactionDescription {
            transactional_id: "orders-tx".into(),
            coordinator_id: 1,
            state: "Ongoing".into(),
            producer_id: 4000,
            producer_epoch: 3,
            timeout_ms: 60_000,
            start_time_ms: 1_000,
            partitions: vec![("orders".into(), 0), ("orders".into(), 2)],
        }
    }

    #[test]
    fn describe_table_shows_the_duration_of_an_ongoing_transaction() {
        let text = render_describe(&sample(), 1_500);
        let mut lines = text.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("COORDINATOR-ID  TRANSACTIONAL-ID"));
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            row,
            [
                "1",
                "orders-tx",
                "4000",
                "3",
                "Ongoing",
                "60000",
                "1000",
                "500",
                "orders-0,orders-2"
            ]
        );
        let done = TransactionDescription {
            state: "CompleteCommit".into(),
            partitions: Vec::new(),
            ..sample()
        };
        let text = render_describe(&done, 1_500);
        assert!(text.lines().nth(1).unwrap().contains("CompleteCommit"));
        assert!(text.lines().nth(1).unwrap().contains("None"));
    }

    #[test]
    fn list_table_and_json() {
        let listed = vec![ListedTransaction {
            transactional_id: "a".into(),
            producer_id: 7,
            state: "Empty".into(),
        }];
        assert_eq!(
            render_list(&listed),
            "TRANSACTIONAL-ID  PRODUCER-ID  STATE\na                 7            Empty\n"
        );
        assert_eq!(
            list_json(&listed).to_string(),
            r#"[{"producer_id":7,"state":"Empty","transactional_id":"a"}]"#
        );
    }

    #[test]
    fn arguments() {
        let ToolCommand::Transactions(args) = parse(&[
            "transactions",
            "list",
            "--state",
            "Ongoing",
            "--state",
            "PrepareAbort",
        ])
        .unwrap() else {
            panic!()
        };
        let TransactionsCommand::List { states } = args.command else {
            panic!()
        };
        assert_eq!(states, ["Ongoing", "PrepareAbort"]);
        assert!(parse(&["transactions", "describe"]).is_err());
    }
}
