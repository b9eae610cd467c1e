//! Envelope (KIP-590): how a node relays a client's metadata change to the
//! active controller without losing who asked.
//!
//! The relaying node sends the client's request, header and body as the
//! client's API version encodes them, inside an EnvelopeRequest that also
//! carries the client's principal (Kafka's `DefaultPrincipalData`, prefixed
//! with its version) and address. The controller checks that the relaying
//! node may relay (ClusterAction on the cluster, as for every node RPC),
//! then answers the inner request as if the client had sent it to its own
//! listener: ACLs, quotas and host rules see the client's principal and
//! address. The inner response, header and body, comes back in the
//! EnvelopeResponse.
//!
//! As in Kafka, an Envelope is taken only on a controller listener (those
//! of `controller.listener.names`; without it, the listener the node's
//! voter endpoint is named after): a client listener is no place to claim
//! another principal. Envelope-level errors follow Kafka's `EnvelopeUtils`:
//! a relaying node without ClusterAction gets CLUSTER_AUTHORIZATION_FAILED,
//! an inner request that does not parse, is not one that is relayed or is
//! of a version this node does not serve is INVALID_REQUEST or
//! UNSUPPORTED_VERSION, a principal that does not parse
//! PRINCIPAL_DESERIALIZATION_FAILURE, and a node that is not the active
//! controller answers NOT_CONTROLLER (it never relays a relayed request
//! again).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Bytes, BytesMut};
use tracing::warn;
use vltava_protocol::messages::{
    DefaultPrincipalData, EnvelopeRequest, EnvelopeResponse, RequestBody, RequestHeader,
};
use vltava_protocol::{ErrorCode, Message, ResponseBody};

use super::authz::Access;
use super::{RequestContext, Session};
use crate::broker::Broker;
use crate::controller_channel::is_relayed;
#[cfg(test)]
use crate::controller_channel::{address_bytes, principal_bytes};
use crate::quotas::QuotaClient;
use vltava_acl::AclOperation;

/// The principal an Envelope carries, as `Type:Name`, and whether it was
/// authenticated with a delegation token.
fn parse_principal(bytes: &Bytes) -> Result<(String, bool), String> {
    if bytes.len() < 2 {
        return Err("too short".into());
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version != 0 {
        return Err(format!("unknown version {version}"));
    }
    let mut rest = bytes.slice(2..);
    let data = DefaultPrincipalData::decode(&mut rest, 0).map_err(|e| e.to_string())?;
    if data.r#type.is_empty() || data.name.is_empty() {
        return Err("an empty type or name".into());
    }
    Ok((
        format!("{}:{}", data.r#type, data.name),
        data.token_authenticated,
    ))
}

fn parse_address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).ok()?,
        ))),
        _ => None,
    }
}

fn refused(code: ErrorCode) -> ResponseBody {
    ResponseBody::Envelope(EnvelopeResponse {
        response_data: None,
        error_code: code.code(),
        ..Default::default()
    })
}

/// Answers an Envelope on the active controller.
pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: EnvelopeRequest,
) -> Result<ResponseBody, String> {
    let relay = &context.session.principal;
    // The connection layer already refuses an Envelope on a listener
    // without the controller role (`ListenerRoles`); kept here so this
    // handler stands on its own.
    if !context.session.roles.controller {
        return Err(format!(
            "an Envelope from {relay} on the {} listener, which is not a controller listener",
            context.session.listener
        ));
    }
    if !Access::of(broker, context).allows_cluster(AclOperation::ClusterAction) {
        warn!(%relay, "Envelope refused: it needs ClusterAction on the cluster");
        return Ok(refused(ErrorCode::CLUSTER_AUTHORIZATION_FAILED));
    }
    Ok(answer(broker, context, request).await)
}

async fn answer(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: EnvelopeRequest,
) -> ResponseBody {
    let relay = &context.session.principal;
    let Some(principal) = request.request_principal.as_ref() else {
        warn!(%relay, "Envelope without a principal");
        return refused(ErrorCode::PRINCIPAL_DESERIALIZATION_FAILURE);
    };
    let (principal, token_authenticated) = match parse_principal(principal) {
        Ok(p) => p,
        Err(e) => {
            warn!(%relay, "Envelope with a principal that does not parse: {e}");
            return refused(ErrorCode::PRINCIPAL_DESERIALIZATION_FAILURE);
        }
    };
    let Some(client) = parse_address(&request.client_host_address) else {
        warn!(%relay, "Envelope with a client address of {} bytes", request.client_host_address.len());
        return refused(ErrorCode::INVALID_REQUEST);
    };
    let (header, body): (RequestHeader, RequestBody) =
        match vltava_protocol::header::decode_request(request.request_data.clone()) {
            Ok(inner) => inner,
            Err(e) => {
                warn!(%relay, "Envelope whose request does not parse: {e}");
                return refused(ErrorCode::INVALID_REQUEST);
            }
        };
    if !is_relayed(&body) {
        warn!(%relay, api = body.api_key().name(), "Envelope holding a request that is not relayed");
        return refused(ErrorCode::INVALID_REQUEST);
    }
    let version = header.request_api_version;
    if !super::supported_versions(body.api_key()).is_some_and(|r| r.contains(version)) {
        return refused(ErrorCode::UNSUPPORTED_VERSION);
    }
    // Only the active controller answers; the relaying node tells the
    // client, which looks for the controller again.
    if !broker.controller.is_active() {
        return refused(ErrorCode::NOT_CONTROLLER);
    }
    let session = Session {
        listener: context.session.listener.clone(),
        protocol: context.session.protocol,
        principal,
        token_authenticated,
        relayed: true,
        roles: context.session.roles,
    };
    let inner = RequestContext {
        header: &header,
        version: header.request_api_version,
        peer: SocketAddr::new(client, 0),
        session: &session,
        zero_copy: None,
    };
    let mutation = matches!(
        body,
        RequestBody::CreateTopics(_)
            | RequestBody::CreatePartitions(_)
            | RequestBody::DeleteTopics(_)
    );
    let mut answer = match Box::pin(super::handle(broker, &inner, body)).await {
        Ok(Some(answer)) => answer,
        Ok(None) => return refused(ErrorCode::UNKNOWN_SERVER_ERROR),
        Err(e) => {
            warn!(%relay, "relayed request failed: {e}");
            return refused(ErrorCode::INVALID_REQUEST);
        }
    };
    // The controller mutation quota is kept here, on the controller: the
    // client's wait goes back in the inner answer (the relaying node has
    // no record of the client's mutations to work it out from).
    if mutation {
        let client = QuotaClient {
            user: crate::quotas::user_of(&session.principal),
            client_id: header.client_id.as_deref().unwrap_or(""),
        };
        let wait = broker
            .quotas
            .mutation_throttle_ms(&broker.metadata.image(), &client);
        if wait > 0 {
            answer.set_throttle_time_ms(i32::try_from(wait).unwrap_or(i32::MAX));
        }
    }
    let mut buf = BytesMut::new();
    if let Err(e) = vltava_protocol::header::encode_response(
        header.correlation_id,
        &answer,
        header.request_api_version,
        &mut buf,
    ) {
        warn!(%relay, "the answer to a relayed request does not encode: {e}");
        return refused(ErrorCode::UNKNOWN_SERVER_ERROR);
    }
    // Without the frame's size prefix: the envelope's bytes field has one.
    let data = buf.freeze().slice(4..);
    ResponseBody::Envelope(EnvelopeResponse {
        response_data: Some(data),
        error_code: 0,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_and_addresses_round_trip_as_kafka_encodes_them() {
        let bytes = principal_bytes("User:alice", false);
        // int16 version 0, then compact strings ("User", "alice"), the
        // boolean and an empty tagged-field section.
        assert_eq!(
            bytes.as_ref(),
            b"\x00\x00\x05User\x06alice\x00\x00".as_slice()
        );
        assert_eq!(
            parse_principal(&bytes).unwrap(),
            ("User:alice".to_string(), false)
        );
        assert_eq!(
            parse_principal(&principal_bytes("User:bob", true)).unwrap(),
            ("User:bob".to_string(), true)
        );
        assert!(parse_principal(&Bytes::from_static(b"\x00\x01\x05User")).is_err());
        assert!(parse_principal(&Bytes::from_static(b"\x00")).is_err());
        assert!(parse_principal(&principal_bytes("User:", false)).is_err());
        for ip in ["10.1.2.3", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(parse_address(&address_bytes(ip)), Some(ip));
        }
        assert_eq!(parse_address(&[1, 2, 3]), None);
    }
}
