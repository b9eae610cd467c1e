//! `vltava cluster`: brokers, controller, cluster id.

use clap::Args;
use serde_json::json;
use vltava_client::ClusterDescription;

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub common: Common,
}

pub async fn run(args: ClusterArgs) -> Result<(), ToolError> {
    let mut client = args.common.connect().await?;
    let cluster = client.describe_cluster().await?;
    if args.common.json() {
        print_json(&to_json(&cluster))
    } else {
        print(&render(&cluster))
    }
}

fn to_json(c: &ClusterDescription) -> serde_json::Value {
    json!({
        "cluster_id": c.cluster_id,
        "controller_id": c.controller_id,
        "brokers": c.brokers.iter().map(|b| json!({
            "id": b.node_id,
            "host": b.host,
            "port": b.port,
            "rack": b.rack,
        })).collect::<Vec<_>>(),
    })
}

fn render(c: &ClusterDescription) -> String {
    let mut t = Table::new(&["ID", "HOST", "PORT", "RACK", "CONTROLLER"]);
    for b in &c.brokers {
        t.push(vec![
            b.node_id.to_string(),
            b.host.clone(),
            b.port.to_string(),
            b.rack.clone().unwrap_or_default(),
            if b.node_id == c.controller_id {
                "yes".to_string()
            } else {
                String::new()
            },
        ]);
    }
    let controller = if c.controller_id < 0 {
        "none".to_string()
    } else {
        c.controller_id.to_string()
    };
    format!(
        "Cluster id: {}\nController: {controller}\n\n{}",
        c.cluster_id.as_deref().unwrap_or("(unknown)"),
        t.render()
    )
}

#[cfg(test)]
mod tests {
    use vltava_client::BrokerMetadata;

    use super::*;

    fn sample() -> ClusterDescription {
        ClusterDescription {
            cluster_id: Some("MkU3OEVBNTcwNTJENDM2Qg".into()),
            controller_id: 2,
            brokers: vec![
                BrokerMetadata {
                    node_id: 1,
                    host: "127.0.0.1".into(),
                    port: 9092,
                    rack: None,
                },
                BrokerMetadata {
                    node_id: 2,
                    host: "127.0.0.1".into(),
                    port: 9093,
                    rack: Some("r2".into()),
                },
            ],
        }
    }

    #[test]
    fn table() {
        assert_eq!(
            render(&sample()),
            "Cluster id: MkU3OEVBNTcwNTJENDM2Qg\n\
             Controller: 2\n\
             \n\
             ID  HOST       PORT  RACK  CONTROLLER\n\
             1   127.0.0.1  9092\n\
             2   127.0.0.1  9093  r2    yes\n"
        );
    }

    #[test]
    fn json() {
        assert_eq!(
            to_json(&sample()).to_string(),
            r#"{"brokers":[{"host":"127.0.0.1","id":1,"port":9092,"rack":null},{"host":"127.0.0.1","id":2,"port":9093,"rack":"r2"}],"cluster_id":"MkU3OEVBNTcwNTJENDM2Qg","controller_id":2}"#
        );
    }
}
